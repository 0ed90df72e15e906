package analysis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/event"
)

// script is a provider that answers from a list, for the metric's
// counting rules; a nil entry is an unreachable provider.
type script struct {
	mu     sync.Mutex
	values []any
	calls  int
}

var errUnreachable = errors.New("connection refused")

func (s *script) Validate() error { return nil }

func (s *script) Measure(context.Context, Args) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.values[min(s.calls, len(s.values)-1)]
	s.calls++
	if v == nil {
		return nil, errUnreachable
	}
	return v, nil
}

func TestMetricCountsAgainstItsLimits(t *testing.T) {
	const ok, bad, unsure = 0.01, 0.5, 0.07 // error rates; success < 0.05, failure > 0.1
	cases := []struct {
		name      string
		values    []any
		count     int
		limits    [3]int // failure, inconclusive, consecutive errors
		want      Phase
		measured  int
		inMessage string
	}{
		{"all good", []any{ok}, 3, [3]int{0, 0, 0}, Successful, 3, ""},
		{"one failure fails at once", []any{ok, bad, ok}, 5, [3]int{0, 0, 0}, Failed, 2, "1 measurements failed (failureLimit 0)"},
		{"a failure within the limit", []any{ok, bad, ok}, 3, [3]int{1, 0, 0}, Successful, 3, ""},
		{"the second failure passes a limit of one", []any{bad, ok, bad, ok}, 4, [3]int{1, 0, 0}, Failed, 3, "failureLimit 1"},
		{"inconclusive pauses", []any{ok, unsure}, 4, [3]int{0, 0, 0}, Inconclusive, 2, "inconclusiveLimit 0"},
		{"errors within the default limit", []any{nil, nil, nil, nil, ok}, 5, [3]int{0, 0, 0}, Successful, 5, ""},
		{"five errors in a row pass the default 4", []any{nil}, 10, [3]int{0, 0, 0}, Inconclusive, 5, "connection refused"},
		{"errors, never a pass", []any{nil}, 3, [3]int{0, 0, -1}, Inconclusive, 1, "consecutiveErrorLimit 0"},
		{"a good value resets the errors in a row", []any{nil, nil, ok, nil, nil, ok}, 6, [3]int{0, 0, 2}, Successful, 6, ""},
		{"the count ends on an error: never a pass", []any{ok, nil}, 2, [3]int{0, 0, 0}, Inconclusive, 2, "its last 1 measurements could not be taken: connection refused"},
		{"failures within the limit, none passed", []any{bad}, 2, [3]int{5, 0, 0}, Inconclusive, 2, "no measurement passed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &script{values: tc.values}
			a, err := New([]Metric{{Name: "error-rate", Provider: p, Interval: time.Millisecond, Count: tc.count,
				SuccessCondition: "result < 0.05", FailureCondition: "result > 0.1",
				FailureLimit: tc.limits[0], InconclusiveLimit: tc.limits[1], ConsecutiveErrorLimit: tc.limits[2]}})
			if err != nil {
				t.Fatal(err)
			}
			var col event.Collector
			res := a.Run(context.Background(), Options{Sink: &col, Stage: "Analysis"})
			m := res.Metrics[0]
			if res.Phase != tc.want || m.Phase != tc.want || len(m.Measurements) != tc.measured {
				t.Errorf("phase %s (metric %s) after %d measurements, want %s after %d: %s",
					res.Phase, m.Phase, len(m.Measurements), tc.want, tc.measured, m.Message)
			}
			if !strings.Contains(res.Message(), tc.inMessage) {
				t.Errorf("message %q lacks %q", res.Message(), tc.inMessage)
			}
			if evs := col.Events(); len(evs) != len(m.Measurements) || evs[0].Type != event.Analysis || evs[0].Object != "metric error-rate" {
				t.Errorf("events %+v: want one analysis event per measurement", evs)
			}
		})
	}
}

func TestAFailedMetricStopsTheOthers(t *testing.T) {
	slow := Metric{Name: "latency", Provider: &script{values: []any{0.1}}, Interval: time.Hour, Count: 3,
		SuccessCondition: "result < 0.5"}
	failing := Metric{Name: "errors", Provider: &script{values: []any{0.9}}, Interval: time.Millisecond, Count: 3,
		SuccessCondition: "result < 0.05"}
	a, err := New([]Metric{slow, failing})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Result)
	go func() { done <- a.Run(context.Background(), Options{}) }()
	select {
	case res := <-done:
		if res.Phase != Failed || res.Metrics[0].Phase != Inconclusive || res.Metrics[1].Phase != Failed {
			t.Errorf("result %+v: want failed, the slow metric cut short", res)
		}
		if !strings.HasPrefix(res.Message(), "errors: ") {
			t.Errorf("message %q: want the failed metric named", res.Message())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failed metric did not end the analysis")
	}
}

func TestABackgroundAnalysisEndsWithItsContext(t *testing.T) {
	cases := []struct {
		name   string
		values []any
		wait   time.Duration
		want   Phase
	}{
		{"measured within its limits", []any{0.01}, 50 * time.Millisecond, Successful},
		{"stopped before it measured", []any{0.01}, 0, Inconclusive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New([]Metric{{Name: "errors", Provider: &script{values: tc.values}, Interval: 5 * time.Millisecond,
				InitialDelay: time.Millisecond, SuccessCondition: "result < 0.05"}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.wait)
			defer cancel()
			if res := a.Run(ctx, Options{}); res.Phase != tc.want {
				t.Errorf("phase %s, want %s (%s)", res.Phase, tc.want, res.Message())
			}
		})
	}
}

func TestNewRefusesBadMetrics(t *testing.T) {
	good := func() Metric {
		return Metric{Name: "m", Provider: &Prometheus{Address: "http://127.0.0.1:9090", Query: "up"}, SuccessCondition: "result[0] == 1.0"}
	}
	cases := []struct {
		name  string
		edit  func(*Metric)
		wants []string
	}{
		{"no name", func(m *Metric) { m.Name = "" }, []string{"without a name"}},
		{"no provider", func(m *Metric) { m.Provider = nil }, []string{"metric m: no provider"}},
		{"a negative count", func(m *Metric) { m.Count = -1 }, []string{"cannot be negative"}},
		{"a CEL error", func(m *Metric) { m.SuccessCondition = "result[0] ==" }, []string{"metric m: successCondition", "1:13"}},
		{"a query naming what Args lacks", func(m *Metric) {
			m.Provider = &Prometheus{Address: "http://127.0.0.1:9090", Query: `rate(x{svc="{{.Canary}}"}[1m])`}
		}, []string{"metric m: query", "Canary"}},
		{"a bad address", func(m *Metric) { m.Provider = &Prometheus{Address: "127.0.0.1:9090", Query: "up"} }, []string{"want an http://"}},
		{"a bad JSONPath", func(m *Metric) { m.Provider = &Web{URL: "http://x/", JSONPath: "{.a["} }, []string{"jsonPath"}},
		{"nothing to run", func(m *Metric) { m.Provider = &Command{} }, []string{"nothing to run"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.edit(&m)
			_, err := New([]Metric{m})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := New([]Metric{good(), good()}); err == nil || !strings.Contains(err.Error(), "named twice") {
		t.Errorf("two metrics of one name: %v", err)
	}
}
