package analysis

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// exporter serves Prometheus' text format: requests by service and code,
// the canary's share of errors set by the test.
type exporter struct{ canaryErrors atomic.Int64 }

func (e *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "# TYPE app_requests_total counter\n")
	fmt.Fprintf(w, "app_requests_total{service=%q,code=\"200\"} 1000\n", "web")
	fmt.Fprintf(w, "app_requests_total{service=%q,code=\"200\"} 100\n", "web-canary")
	fmt.Fprintf(w, "app_requests_total{service=%q,code=\"500\"} %d\n", "web-canary", e.canaryErrors.Load())
}

// TestPrometheusOnARealServer queries a real Prometheus that scrapes the
// test's exporter every second.
func TestPrometheusOnARealServer(t *testing.T) {
	exp := &exporter{}
	exp.canaryErrors.Store(2)
	srv := httptest.NewServer(exp)
	defer srv.Close()
	prom := testbed.RequirePrometheus(t, testbed.PrometheusOptions{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}})
	errorShare := &Prometheus{Address: prom.URL, Query: `sum(app_requests_total{service="{{.CanaryService}}",code="500"})` +
		` / sum(app_requests_total{service="{{.CanaryService}}"})`}
	awaitScrape(t, errorShare)

	cases := []struct {
		name    string
		p       *Prometheus
		want    any
		wantErr string
	}{
		{"a vector of one: the canary's error share", errorShare, []any{2.0 / 102}, ""},
		{"a vector, ordered by labels", &Prometheus{Address: prom.URL, Query: `sum by (service) (app_requests_total{code="200"})`},
			[]any{1000.0, 100.0}, ""},
		{"a scalar", &Prometheus{Address: prom.URL, Query: `scalar(sum(app_requests_total{service="web"}))`}, 1000.0, ""},
		{"no data is an empty list", &Prometheus{Address: prom.URL, Query: `app_requests_total{service="nobody"}`}, []any{}, ""},
		{"a bad query is an error, with Prometheus' reason", &Prometheus{Address: prom.URL, Query: `sum(app_requests_total`}, nil, "parse error"},
		{"a range vector is refused", &Prometheus{Address: prom.URL, Query: `app_requests_total[1m]`}, nil, "want a scalar or an instant vector"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.Measure(context.Background(), canaryArgs)
			assertMeasured(t, got, err, tc.want, tc.wantErr)
		})
	}

	t.Run("an analysis fails the canary once its errors rise, and cannot pass once Prometheus is gone", func(t *testing.T) {
		a, err := New([]Metric{{Name: "error-share", Provider: errorShare, Interval: 200 * time.Millisecond, Count: 3,
			SuccessCondition: "size(result) == 1 && result[0] < 0.05"}})
		if err != nil {
			t.Fatal(err)
		}
		if res := a.Run(context.Background(), Options{Args: canaryArgs}); res.Phase != Successful {
			t.Fatalf("2 errors in 102: %s (%s)", res.Phase, res.Message())
		}
		exp.canaryErrors.Store(50)
		awaitValue(t, errorShare, []any{50.0 / 150})
		if res := a.Run(context.Background(), Options{Args: canaryArgs}); res.Phase != Failed {
			t.Fatalf("50 errors in 150: %s (%s)", res.Phase, res.Message())
		}
		if err := prom.Stop(); err != nil {
			t.Fatal(err)
		}
		res := a.Run(context.Background(), Options{Args: canaryArgs})
		if res.Phase != Inconclusive || !strings.Contains(res.Message(), "connection refused") {
			t.Fatalf("Prometheus stopped: %s (%s), want inconclusive, saying why", res.Phase, res.Message())
		}
	})
}

// awaitScrape waits for Prometheus' first scrape of the exporter.
func awaitScrape(t *testing.T, p *Prometheus) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := p.Measure(context.Background(), canaryArgs)
		if l, ok := v.([]any); err == nil && ok && len(l) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scrape in 20s: %v %v", v, err)
		}
		time.Sleep(100 * time.Millisecond) // Prometheus has no watch for a new sample
	}
}

// awaitValue waits until the query gives want.
func awaitValue(t *testing.T, p *Prometheus, want any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := p.Measure(context.Background(), canaryArgs)
		if err == nil && reflect.DeepEqual(v, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the query gave %v (%v) for 20s, want %v", v, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
