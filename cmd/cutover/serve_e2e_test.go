package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testinfra/selfsigned"
)

func TestServeRefusesBadFlags(t *testing.T) {
	cases := map[string][]string{
		"cert without key":   {"--tls-cert-file", "tls.crt"},
		"key without cert":   {"--tls-private-key-file", "tls.key"},
		"no session":         {"--session-ttl", "0s"},
		"negative drain":     {"--shutdown-delay", "-1s"},
		"an argument":        {"prod"},
		"an unknown setting": {"--token-heder", "X"},
		"a bad namespace":    {"-n", "prod,Not_A_Namespace"},
		"a relative root":    {"--root-path", "cutover"},
		"a root with ..":     {"--root-path", "/a/../b"},
	}
	for name, args := range cases {
		for _, command := range []string{"serve", "dashboard"} {
			if command == "dashboard" && name != "a bad namespace" && !strings.Contains(name, "root") {
				continue
			}
			t.Run(command+" "+name, func(t *testing.T) {
				var stderr strings.Builder
				code := run(context.Background(), append([]string{command}, args...),
					streams{in: strings.NewReader(""), out: io.Discard, err: &stderr})
				if code != exitUsage {
					t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
				}
				if name == "a bad namespace" && !strings.Contains(stderr.String(), `"Not_A_Namespace"`) {
					t.Errorf("stderr does not name the bad namespace:\n%s", stderr.String())
				}
			})
		}
	}
}

// On SIGTERM (its context ending), cutover serve fails /readyz at once,
// keeps serving for --shutdown-delay while its endpoint goes, then stops.
func TestServeDrainsBeforeItStops(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	const delay = 2 * time.Second
	base, cancel, exited := startServing(t, "serve", "--addr", "127.0.0.1:0", "--shutdown-delay", delay.String(), "--kubeconfig", cluster.Kubeconfig, "-n", ns)
	defer cancel()
	if code := status(t, base+"readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before the stop: %d, want 200", code)
	}
	if code := status(t, base); code != http.StatusSeeOther {
		t.Errorf("GET / without a token: %d, want 303 to the sign-in form", code)
	}
	stopped := time.Now()
	cancel()
	time.Sleep(delay / 4)
	if code := status(t, base+"readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: %d, want 503", code)
	}
	if code := status(t, base+"healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining: %d, want 200 (it still serves)", code)
	}
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("serve exited %d after the stop, want %d", code, exitOK)
		}
		if took := time.Since(stopped); took < delay {
			t.Errorf("serve stopped %s after SIGTERM, want at least --shutdown-delay %s", took, delay)
		}
	case <-time.After(delay + shutdownGrace + 5*time.Second):
		t.Fatal("serve did not stop")
	}
}

// status is the status code of GET url, redirects not followed.
func status(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// With --tls-cert-file and --tls-private-key-file, cutover serve speaks
// TLS with that certificate, and says so in its URL.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	pool := selfsigned.Write(t, "cutover serve test", certFile, keyFile)
	base, cancel, exited := startServing(t, "serve", "--addr", "127.0.0.1:0", "--shutdown-delay", "0s", "--kubeconfig", cluster.Kubeconfig, "-n", ns,
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile)
	defer func() {
		cancel()
		if code := <-exited; code != exitOK {
			t.Errorf("serve exited %d after the stop, want %d", code, exitOK)
		}
	}()
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("URL %q, want https://127.0.0.1:PORT/", base)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(base + "healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS, trusting the given certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz over TLS: %d, want 200", resp.StatusCode)
	}
}
