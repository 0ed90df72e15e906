package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDashboardAddrIsLoopbackOnly(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.1:8080", true},
		{"[::1]:0", true},
		{"localhost:0", true},
		{":8080", false},
		{"0.0.0.0:0", false},
		{"[::]:0", false},
		{"192.168.1.2:80", false},
		{"dashboard.example.com:80", false},
		{"127.0.0.1", false}, // no port
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			if err := checkLoopback(tc.addr); (err == nil) != tc.ok {
				t.Errorf("checkLoopback(%q) = %v, want ok %v", tc.addr, err, tc.ok)
			}
		})
	}
}

func TestDashboardRefusesNonLoopbackAddr(t *testing.T) {
	var stderr strings.Builder
	code := run(context.Background(), []string{"dashboard", "--addr", "0.0.0.0:8080", "--no-browser"},
		streams{in: strings.NewReader(""), out: io.Discard, err: &stderr})
	if code != exitUsage || !strings.Contains(stderr.String(), "loopback") {
		t.Fatalf("exit %d, stderr %q; want %d and a word on loopback", code, stderr.String(), exitUsage)
	}
}

// The command prints its URL, serves the dashboard of the namespaces
// given there (under --root-path), and stops cleanly when its context
// ends (SIGINT, SIGTERM).
func TestDashboardServesUntilInterrupted(t *testing.T) {
	t.Parallel()
	ns, other := cluster.Namespace(t), cluster.Namespace(t)
	for _, n := range []string{ns, other} {
		if r := blueGreen(t, n, "7"); r.code != exitOK {
			t.Fatalf("deploy to %s exited %d", n, r.code)
		}
	}
	base, cancel, exited := startServing(t, "dashboard", "--no-browser", "--by", "alice", "--kubeconfig", cluster.Kubeconfig,
		"-n", ns, "-n", other, "--root-path", "/cutover")
	defer cancel()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/cutover/") {
		t.Fatalf("URL %q, want http://127.0.0.1:PORT/cutover/", base)
	}
	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, n := range []string{ns, other} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `href="/cutover/apps/`+n+`/tomcat-service"`) {
			t.Fatalf("GET %s: %d, want a link to %s/tomcat-service:\n%s", base, resp.StatusCode, n, body)
		}
	}
	// An open event stream must not hold up the shutdown.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"events", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	cancel()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("dashboard exited %d after the interrupt, want %d", code, exitOK)
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("dashboard did not stop after the interrupt")
	}
	if _, err := http.Get(base + "healthz"); err == nil {
		t.Error("dashboard still serves after it stopped")
	}
}

// startServing runs cutover with args (dashboard or serve) until stop, and
// returns the URL it printed ("dashboard: URL ...") and its exit code, to
// come.
func startServing(t *testing.T, args ...string) (base string, stop context.CancelFunc, exited <-chan int) {
	t.Helper()
	urls := make(chan string, 1)
	out := &lineWriter{on: func(line string) {
		if u, ok := strings.CutPrefix(line, "dashboard: "); ok {
			u, _, _ = strings.Cut(u, " ")
			urls <- u
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, streams{in: strings.NewReader(""), out: out, err: io.Discard}) }()
	select {
	case base = <-urls:
	case c := <-code:
		cancel()
		t.Fatalf("cutover %s exited %d before printing its URL", args[0], c)
	case <-time.After(time.Minute):
		cancel()
		t.Fatalf("cutover %s printed no URL", args[0])
	}
	return base, cancel, code
}
