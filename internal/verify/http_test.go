package verify

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve starts a loopback server answering every request with code and body.
func serve(t *testing.T, code int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// flipping answers the n-th request (from 1) with codes[n-1], repeating the
// last code past the end.
func flipping(t *testing.T, codes ...int) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(codes[min(int(n.Add(1))-1, len(codes)-1)])
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPProbe(t *testing.T) {
	long := strings.Repeat("x", 4096) + "NEEDLE"
	cases := []struct {
		name   string
		code   int
		body   string
		check  HTTP
		ok     bool
		detail string
	}{
		{name: "any 2xx by default", code: 204, check: HTTP{}, ok: true, detail: "204 No Content"},
		{name: "5xx rejected", code: 503, check: HTTP{}, detail: "503 Service Unavailable"},
		{name: "3xx rejected by default", code: 304, check: HTTP{}, detail: "304 Not Modified"},
		{name: "status list accepts", code: 404, check: HTTP{Status: []int{200, 404}}, ok: true, detail: "404 Not Found"},
		{name: "status list rejects 2xx outside it", code: 201, check: HTTP{Status: []int{200}}, detail: "201 Created"},
		{name: "unknown code", code: 599, check: HTTP{Status: []int{200}}, detail: "599"},
		{name: "contains", code: 200, body: "Apache Tomcat/8.5.100", check: HTTP{Contains: "Apache Tomcat/8"}, ok: true, detail: "200 OK, body matched"},
		{name: "does not contain", code: 200, body: "Apache Tomcat/7.0", check: HTTP{Contains: "Apache Tomcat/8"}, detail: `200 OK, body does not contain "Apache Tomcat/8"`},
		{name: "matches", code: 200, body: "version=8.5.1", check: HTTP{Matches: regexp.MustCompile(`version=8\.\d+`)}, ok: true, detail: "200 OK, body matched"},
		{name: "does not match", code: 200, body: "version=7", check: HTTP{Matches: regexp.MustCompile(`version=8`)}, detail: "200 OK, body does not match /version=8/"},
		{name: "contains and matches both needed", code: 200, body: "Tomcat/8", check: HTTP{Contains: "Tomcat", Matches: regexp.MustCompile(`/9`)}, detail: "200 OK, body does not match //9/"},
		{name: "body not judged on a rejected status", code: 500, body: "Tomcat/8", check: HTTP{Contains: "Tomcat/8"}, detail: "500 Internal Server Error"},
		{name: "text past MaxBody unseen", code: 200, body: long, check: HTTP{Contains: "NEEDLE", MaxBody: 1024}, detail: `200 OK, body does not contain "NEEDLE"`},
		{name: "text within MaxBody seen", code: 200, body: long, check: HTTP{Contains: "NEEDLE", MaxBody: 8192}, ok: true, detail: "200 OK, body matched"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.check
			h.URL = serve(t, tc.code, tc.body).URL
			r := h.Probe(t.Context())
			if r.OK != tc.ok || r.Detail != tc.detail {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.OK, r.Detail, tc.ok, tc.detail)
			}
		})
	}
}

func TestHTTPSendsMethodAndHeaders(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = strings.Join([]string{r.Method, r.Host, r.Header.Get("X-Probe"), r.UserAgent()}, " ")
	}))
	defer srv.Close()
	h := &HTTP{URL: srv.URL, Method: http.MethodHead, Headers: map[string]string{"X-Probe": "1", "host": "app.example"}}
	if r := h.Probe(t.Context()); !r.OK {
		t.Fatalf("probe failed: %s", r.Detail)
	}
	if want := "HEAD app.example 1 cutover-verify"; got != want {
		t.Errorf("server saw %q, want %q", got, want)
	}
}

func TestHTTPConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/health"
	ln.Close()
	r := (&HTTP{URL: url}).Probe(t.Context())
	if r.OK || !strings.Contains(r.Detail, "connection refused") || strings.Contains(r.Detail, "/health") {
		t.Errorf("detail %q: want connection refused, without the URL", r.Detail)
	}
}

func TestHTTPTimeoutDetail(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // fails the test rather than hanging it
	defer cancel()
	start := time.Now()
	err := Run(ctx, &HTTP{URL: srv.URL}, Policy{Attempts: 2, Interval: time.Millisecond, Timeout: 50 * time.Millisecond}, nil)
	checkErr(t, err, "after 2 attempts: timed out")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s; the per-attempt timeout was not applied", d)
	}
}

func TestHTTPInvalidURLDoesNotLeak(t *testing.T) {
	h := &HTTP{URL: "http://user:s3cret@bad host/?token=abc"}
	r := h.Probe(t.Context())
	if r.OK || r.Detail == "" || strings.Contains(r.Detail, "s3cret") || strings.Contains(r.Detail, "abc") {
		t.Errorf("detail %q: want a failure without the URL's secrets", r.Detail)
	}
	if n := h.Name(); n != "http GET <invalid url>" {
		t.Errorf("name %q", n)
	}
}

func TestHTTPName(t *testing.T) {
	cases := []struct {
		check HTTP
		want  string
	}{
		{HTTP{URL: "http://127.0.0.1:8080/"}, "http GET http://127.0.0.1:8080/"},
		{HTTP{URL: "https://user:s3cret@example.com/health"}, "http GET https://example.com/health"},
		{HTTP{URL: "https://token@example.com/"}, "http GET https://example.com/"},
		{HTTP{URL: "https://example.com/x?token=abc&flag&v=1#frag"}, "http GET https://example.com/x?token=xxxxx&flag&v=xxxxx"},
		{HTTP{URL: "http://example.com/", Method: http.MethodPost}, "http POST http://example.com/"},
		{HTTP{URL: "http://a:b@example.com/", Label: "frontend"}, "frontend"},
	}
	for _, tc := range cases {
		if got := tc.check.Name(); got != tc.want {
			t.Errorf("Name of %q = %q, want %q", tc.check.URL, got, tc.want)
		}
	}
}

func TestHTTPTLSVerification(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	if r := (&HTTP{URL: srv.URL}).Probe(t.Context()); r.OK || !strings.Contains(r.Detail, "certificate") {
		t.Errorf("self-signed server: ok=%v %q, want a certificate error", r.OK, r.Detail)
	}
	if r := (&HTTP{URL: srv.URL, InsecureSkipVerify: true}).Probe(t.Context()); !r.OK {
		t.Errorf("InsecureSkipVerify: %q, want a pass", r.Detail)
	}
}

// TestHTTPRunAgainstFlippingServer covers Run over real requests: a server
// that recovers, and one that stumbles in the middle of a streak.
func TestHTTPRunAgainstFlippingServer(t *testing.T) {
	cases := []struct {
		name    string
		codes   []int
		policy  Policy
		streaks []int
		errHas  string
	}{
		{name: "recovers", codes: []int{503, 502, 200}, policy: Policy{Attempts: 5, Interval: time.Millisecond}, streaks: []int{0, 0, 1}},
		{name: "streak resets", codes: []int{200, 503, 200, 200, 200}, policy: Policy{Attempts: 5, Interval: time.Millisecond, SuccessesInRow: 3}, streaks: []int{1, 0, 1, 2, 3}},
		{name: "never recovers", codes: []int{200, 503}, policy: Policy{Attempts: 3, Interval: time.Millisecond, SuccessesInRow: 2}, streaks: []int{1, 0, 0}, errHas: "after 3 attempts: 503 Service Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var streaks []int
			err := Run(t.Context(), &HTTP{URL: flipping(t, tc.codes...).URL}, tc.policy, func(a Attempt) { streaks = append(streaks, a.Streak) })
			checkErr(t, err, tc.errHas)
			if fmt.Sprint(streaks) != fmt.Sprint(tc.streaks) {
				t.Errorf("streaks %v, want %v", streaks, tc.streaks)
			}
		})
	}
}
