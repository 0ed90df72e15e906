package analysis

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

var canaryArgs = Args{App: "web", Namespace: "prod", CanaryService: "web-canary", StableService: "web", Revision: 3}

func TestWebPicksItsValue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer t":
			http.Error(w, "who are you", http.StatusUnauthorized)
		case r.URL.Path == "/stats/web-canary":
			w.Write([]byte(`{"service":"web-canary","errors":{"rate":0.02},"pods":[{"ready":true},{"ready":false}]}`))
		case r.URL.Path == "/text":
			w.Write([]byte("not json"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	auth := map[string]string{"Authorization": "Bearer t"}
	cases := []struct {
		name    string
		web     Web
		want    any
		wantErr string
	}{
		{"a number by JSONPath, the URL from Args", Web{URL: srv.URL + "/stats/{{.CanaryService}}", Headers: auth, JSONPath: "{.errors.rate}"}, 0.02, ""},
		{"several values are a list", Web{URL: srv.URL + "/stats/web-canary", Headers: auth, JSONPath: "{.pods[*].ready}"}, []any{true, false}, ""},
		{"the whole document", Web{URL: srv.URL + "/stats/web-canary", Headers: auth, JSONPath: "{.errors}"}, map[string]any{"rate": 0.02}, ""},
		{"nothing found is an error", Web{URL: srv.URL + "/stats/web-canary", Headers: auth, JSONPath: "{.latency}"}, nil, "latency is not found"},
		{"a status that is not 2xx is an error", Web{URL: srv.URL + "/stats/web-canary"}, nil, "401 Unauthorized"},
		{"not JSON is an error", Web{URL: srv.URL + "/text", Headers: auth}, nil, "not JSON"},
		{"an unreachable server is an error", Web{URL: "http://127.0.0.1:1/"}, nil, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.web.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := tc.web.Measure(context.Background(), canaryArgs)
			assertMeasured(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestCommandResult(t *testing.T) {
	cases := []struct {
		name    string
		run     string
		want    any
		wantErr string
	}{
		{"a number", "echo 0.25", 0.25, ""},
		{"JSON", `echo '{"p99": 180}'`, map[string]any{"p99": 180.0}, ""},
		{"text", "echo {{.App}} in {{.Namespace}}", "web in prod", ""},
		{"a failure is an error, with its stderr", "echo broken >&2; exit 3", nil, "broken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Command{Run: tc.run}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := c.Measure(context.Background(), canaryArgs)
			assertMeasured(t, got, err, tc.want, tc.wantErr)
		})
	}
}

// assertMeasured checks a measurement: the value want, or an error saying
// wantErr.
func assertMeasured(t *testing.T, got any, err error, want any, wantErr string) {
	t.Helper()
	switch {
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Errorf("error %v, want one saying %q", err, wantErr)
	case wantErr == "" && err != nil:
		t.Fatal(err)
	case wantErr == "" && !reflect.DeepEqual(got, want):
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestJobResult(t *testing.T) {
	cases := []struct {
		name     string
		complete bool
		err      error
		want     any
		wantErr  string
	}{
		{"a Job that completes succeeded", true, nil, map[string]any{"succeeded": true, "detail": "job smoke-x complete"}, ""},
		{"a Job that failed is a value, not an error", false, nil, map[string]any{"succeeded": false, "detail": "job smoke-x complete"}, ""},
		{"a Job that could not run is an error", false, errors.New("create job: forbidden"), nil, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got Args
			j := &Job{Name: "smoke.yaml", Run: func(_ context.Context, a Args) (bool, string, error) {
				got = a
				return tc.complete, "job smoke-x complete", tc.err
			}}
			if err := j.Validate(); err != nil {
				t.Fatal(err)
			}
			v, err := j.Measure(context.Background(), canaryArgs)
			assertMeasured(t, v, err, tc.want, tc.wantErr)
			if got != canaryArgs {
				t.Errorf("the Job ran with %+v, want the measurement's Args %+v", got, canaryArgs)
			}
		})
	}
	if err := (&Job{Name: "smoke.yaml"}).Validate(); err == nil || !strings.Contains(err.Error(), "nothing to run") {
		t.Errorf("a Job metric without Run: %v, want nothing to run", err)
	}
}

// TestJobSucceededJudges: the condition a Job metric gets by default
// passes a completed Job and fails a failed one.
func TestJobSucceededJudges(t *testing.T) {
	cond, err := compileConditions(JobSucceeded, "")
	if err != nil {
		t.Fatal(err)
	}
	for complete, want := range map[bool]Phase{true: Successful, false: Failed} {
		if got, err := cond.judge(map[string]any{"succeeded": complete, "detail": "x"}); err != nil || got != want {
			t.Errorf("succeeded %v: %s, %v; want %s", complete, got, err, want)
		}
	}
}
