package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// scripted answers the n-th request (from 1) with codes[n-1], repeating the
// last one.
func scripted(t *testing.T, body string, codes ...int) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		w.WriteHeader(codes[min(i, len(codes)-1)])
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

var fast = Policy{Attempts: 5, Interval: time.Millisecond, Timeout: time.Second}

func TestRun(t *testing.T) {
	cases := []struct {
		name      string
		codes     []int
		body      string
		check     HTTP
		policy    Policy
		wantErr   bool
		attempts  int
		lastMatch string
	}{
		{name: "first try", codes: []int{200}, policy: fast, attempts: 1},
		{name: "after failures", codes: []int{503, 503, 200}, policy: fast, attempts: 3},
		{name: "attempts run out", codes: []int{503}, policy: fast, wantErr: true, attempts: 5, lastMatch: "503 Service Unavailable"},
		{name: "accepted status list", codes: []int{404}, check: HTTP{Status: []int{404}}, policy: fast, attempts: 1},
		{name: "rejected 2xx outside list", codes: []int{204}, check: HTTP{Status: []int{200}}, policy: fast, wantErr: true, attempts: 5},
		{name: "body contains", codes: []int{200}, body: "Apache Tomcat/8.5", check: HTTP{Contains: "Apache Tomcat/8"}, policy: fast, attempts: 1},
		{name: "body lacks", codes: []int{200}, body: "Apache Tomcat/7.0", check: HTTP{Contains: "Apache Tomcat/8"}, policy: fast, wantErr: true, attempts: 5, lastMatch: `does not contain "Apache Tomcat/8"`},
		{name: "body matches", codes: []int{200}, body: "version=8.5.1", check: HTTP{Matches: regexp.MustCompile(`version=8\.\d+`)}, policy: fast, attempts: 1},
		{name: "body does not match", codes: []int{200}, body: "version=7", check: HTTP{Matches: regexp.MustCompile(`version=8`)}, policy: fast, wantErr: true, attempts: 5, lastMatch: "does not match"},
		{name: "streak resets", codes: []int{200, 503, 200, 200, 200}, policy: Policy{Attempts: 6, Interval: time.Millisecond, SuccessesInRow: 3}, attempts: 5},
		{name: "streak never reached", codes: []int{200, 503}, policy: Policy{Attempts: 4, Interval: time.Millisecond, SuccessesInRow: 2}, wantErr: true, attempts: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := scripted(t, tc.body, tc.codes...)
			check := tc.check
			check.URL = srv.URL
			var seen []Attempt
			err := Run(context.Background(), &check, tc.policy, func(a Attempt) { seen = append(seen, a) })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, ErrCheckFailed) {
				t.Errorf("err %v does not wrap ErrCheckFailed", err)
			}
			if len(seen) != tc.attempts {
				t.Fatalf("%d attempts reported, want %d", len(seen), tc.attempts)
			}
			for i, a := range seen {
				if a.N != i+1 || a.Of != tc.policy.WithDefaults().Attempts {
					t.Errorf("attempt %d reported as %d/%d", i+1, a.N, a.Of)
				}
			}
			if tc.lastMatch != "" && !strings.Contains(err.Error(), tc.lastMatch) {
				t.Errorf("error %q should carry the last detail %q", err, tc.lastMatch)
			}
		})
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	start := time.Now()
	err := Run(context.Background(), &HTTP{URL: srv.URL}, Policy{Attempts: 2, Interval: time.Millisecond, Timeout: 50 * time.Millisecond}, nil)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s; the per-attempt timeout was not applied", d)
	}
}

func TestCancelDuringIntervalReturnsPromptly(t *testing.T) {
	srv := scripted(t, "", 503)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := Run(ctx, &HTTP{URL: srv.URL}, Policy{Attempts: 3, Interval: time.Hour}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %s", d)
	}
}

func TestRunAllStopsAtFirstFailure(t *testing.T) {
	bad, good := scripted(t, "", 500), scripted(t, "", 200)
	var checks []string
	err := RunAll(context.Background(), []Spec{
		{Check: &HTTP{URL: good.URL}, Policy: fast},
		{Check: &HTTP{URL: bad.URL}, Policy: Policy{Attempts: 1}},
		{Check: &HTTP{URL: good.URL, Label: "never"}, Policy: fast},
	}, func(a Attempt) { checks = append(checks, a.Check) })
	if !errors.Is(err, ErrCheckFailed) {
		t.Fatalf("err = %v", err)
	}
	for _, c := range checks {
		if c == "never" {
			t.Error("a check after the failing one ran")
		}
	}
	if len(checks) != 2 {
		t.Errorf("checks run: %v", checks)
	}
}

func TestNameHidesCredentials(t *testing.T) {
	h := &HTTP{URL: "https://user:s3cret@example.com/health?token=abc&x=1"}
	if n := h.Name(); strings.Contains(n, "s3cret") || strings.Contains(n, "abc") {
		t.Errorf("name leaks credentials: %s", n)
	}
}

func TestMaxBodyLimitsReading(t *testing.T) {
	srv := scripted(t, strings.Repeat("x", 4096)+"NEEDLE", 200)
	h := &HTTP{URL: srv.URL, Contains: "NEEDLE", MaxBody: 1024}
	if r := h.Probe(context.Background()); r.OK {
		t.Error("found text beyond MaxBody")
	}
}

func TestServiceProxyHTTP(t *testing.T) {
	var gotPath, gotAuth string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		fmt.Fprint(w, "Apache Tomcat/8")
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, BearerToken: "tok", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	h, err := NewServiceProxyHTTP(cfg, "prod", "tomcat-test-green", "80", "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	h.Contains = "Tomcat/8"
	if r := h.Probe(context.Background()); !r.OK {
		t.Fatalf("probe failed: %s", r.Detail)
	}
	if gotPath != "/api/v1/namespaces/prod/services/tomcat-test-green:80/proxy/index.html" || gotAuth != "Bearer tok" {
		t.Errorf("path %q auth %q", gotPath, gotAuth)
	}
	if strings.Contains(h.Name(), "tok") || !strings.HasPrefix(h.Name(), "service prod/tomcat-test-green:80") {
		t.Errorf("name %q", h.Name())
	}
}
