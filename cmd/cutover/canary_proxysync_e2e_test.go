package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCanaryAnalysisWaitsForTheProxies: after a weight shows in the
// EndpointSlices, the next step starts only once --proxy-sync-delay has
// passed, so an analysis measures traffic the nodes' kube-proxies already
// send at that weight. The test watches the Service's EndpointSlices
// itself and takes the time the canary's pod first became a ready
// endpoint; the analysis step's command writes when it ran.
func TestCanaryAnalysisWaitsForTheProxies(t *testing.T) {
	t.Parallel()
	const hold = 3 * time.Second
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	stamp := filepath.Join(t.TempDir(), "analysis-ran")
	cfg := writeFile(t, "cutover.yaml", `strategy: canary
checks:
  - name: stamp
    command: {run: "date +%s%N >> `+stamp+`"}
    attempts: 1
canary:
  steps:
    - setWeight: 50
    - analysis: stamp
  scaleDownDelay: 1s
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	routed := canaryRoutedAt(ctx, t, ns, "web")
	r := cutover(t, ns, "", "deploy", "-c", cfg, "-f", file, "--var", "TOMCAT_VERSION=8",
		"--proxy-sync-delay", hold.String(), "-o", "json")
	if r.code != exitOK {
		t.Fatalf("canary of 8: exit %d", r.code)
	}
	var ready time.Time
	select {
	case at, ok := <-routed:
		if !ok {
			t.Fatal("the EndpointSlices watch ended before a canary pod was a ready endpoint")
		}
		ready = at
	case <-time.After(10 * time.Second):
		t.Fatal("the canary's pod never showed as a ready endpoint of web")
	}
	ran := stampTime(t, stamp)
	// The test's watch learns the slice at about the time cutover's does
	// (both are told by the API server); cutover then holds.
	if waited := ran.Sub(ready); waited < hold-hold/10 {
		t.Errorf("the analysis ran %s after the canary's pod became a ready endpoint, want at least %s (--proxy-sync-delay)", waited, hold)
	}
	if !strings.Contains(r.stdout, "routed to in the EndpointSlices "+hold.String()+" ago") {
		t.Errorf("the traffic event does not say how long it held for the proxies:\n%s", r.stdout)
	}
}

// canaryRoutedAt watches service's EndpointSlices and sends the time a
// canary pod first showed as a ready endpoint.
func canaryRoutedAt(ctx context.Context, t *testing.T, ns, service string) <-chan time.Time {
	t.Helper()
	w, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).Watch(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan time.Time, 1)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if ok && hasReadyCanary(s, service) {
				out <- time.Now()
				return
			}
		}
		close(out)
	}()
	return out
}

func hasReadyCanary(s *discoveryv1.EndpointSlice, service string) bool {
	for _, e := range s.Endpoints {
		ready := e.Conditions.Ready != nil && *e.Conditions.Ready
		if ready && e.TargetRef != nil && strings.HasPrefix(e.TargetRef.Name, service+"-canary-") {
			return true
		}
	}
	return false
}

// stampTime reads the first time a command wrote to path (date +%s%N).
func stampTime(t *testing.T, path string) time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the analysis step did not run: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	ns, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil {
		t.Fatalf("stamp %q: %v", first, err)
	}
	return time.Unix(0, ns)
}
