package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
)

// TestBlueGreen is workload (c): the article's blue/green 7 -> 8 on its own
// manifests, cutover beside the seed pipeline replayed in bash (kubectl, jq,
// curl in the article's verify loop), both verifying through the data
// plane's gateway. It also measures cutover's switch latency: from the watch
// event in which the last pod of the new color turned Ready to the one in
// which the production selector changed, both seen by this process. The
// latency runs talk to the API server directly: the counting proxy, which
// speaks HTTP/1.1 to its client, would add its own hop and handshakes.
func TestBlueGreen(t *testing.T) {
	kubectl(t)
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not found: the replay needs it")
	}
	cut := cutoverBin(t)
	gw := gateway(t)
	manifests, _ := filepath.Abs("../examples/blue-green")
	const rounds = 5
	// Latency first, on a test bed that nothing else keeps busy.
	fresh := freshLatencies(t, cut, manifests, gw, rounds)
	inPlace := inPlaceLatencies(t, cut, manifests, rounds)
	var cutRuns, replayRuns []measurement
	var cutStarts, replayStarts []time.Duration // the new color's start-up, in each run
	for i := range rounds {
		nsC, nsR := namespace(t, fmt.Sprintf("bench-c-cutover-%d", i)), namespace(t, fmt.Sprintf("bench-c-replay-%d", i))
		deployArgs := func(ns, v string) []string {
			return []string{cut, "deploy", "--strategy", "blue-green", "-f", manifests, "--service", "tomcat-service",
				"--var", "TOMCAT_VERSION=" + v, "-n", ns, "--kubeconfig", "KUBECONFIG", "-o", "json",
				"--verify-url", gw + "/" + ns + "/tomcat-test-{color}/", "--verify-contains", "Apache Tomcat/" + v}
		}
		runTool(t, "cutover", deployArgs(nsC, "7")) // first deploy: blue
		runTool(t, "cutover", deployArgs(nsR, "7")) // the replay starts from the same state
		warmRouters(gw, nsC)                        // start the gateway's routers before the clock does
		warmRouters(gw, nsR)
		started := watchPodStart(t, nsC, "green", 2)
		cutRuns = append(cutRuns, runTool(t, "cutover", deployArgs(nsC, "8")))
		cutStarts = append(cutStarts, started())
		started = watchPodStart(t, nsR, "green", 2)
		replayRuns = append(replayRuns, runTool(t, "replay", []string{"./replay-bluegreen.sh",
			nsR, "8", gw, manifests, "KUBECONFIG"}))
		replayStarts = append(replayStarts, started())
	}
	report(t, "(c) blue/green 7 -> 8, the article's manifests; peer: the seed pipeline replayed in bash", cutRuns, replayRuns)
	printOwnTime(cutRuns, replayRuns, cutStarts, replayStarts)
	printLatency("7 -> 8 as above (green is new), with Verify Staged's HTTP check", fresh)
	printLatency("the idle color updated in place (the keep policy's steady state), no checks", inPlace)
}

// bgDeploy runs cutover's blue/green deploy of version v into ns, straight
// to the API server; with a gateway URL it verifies through it.
func bgDeploy(t *testing.T, cut, manifests, ns string, v int, gateway string) {
	t.Helper()
	args := []string{"deploy", "--strategy", "blue-green", "-f", manifests, "--service", "tomcat-service",
		"--var", fmt.Sprintf("TOMCAT_VERSION=%d", v), "-n", ns, "--kubeconfig", cluster.Kubeconfig, "-o", "json"}
	if gateway != "" {
		args = append(args, "--verify-url", gateway+"/"+ns+"/tomcat-test-{color}/", "--verify-contains", fmt.Sprintf("Apache Tomcat/%d", v))
	}
	if out, err := exec.Command(cut, args...).CombinedOutput(); err != nil {
		t.Fatalf("cutover %v: %v\n%s", args, err, out)
	}
}

// freshLatencies measures the article's 7 -> 8: green is created, then
// switched to.
func freshLatencies(t *testing.T, cut, manifests, gateway string, rounds int) []time.Duration {
	var out []time.Duration
	for i := range rounds {
		ns := namespace(t, fmt.Sprintf("bench-c-fresh-%d", i))
		bgDeploy(t, cut, manifests, ns, 7, gateway)
		warmRouters(gateway, ns)
		watch := watchSwitch(t, ns, "green")
		bgDeploy(t, cut, manifests, ns, 8, gateway)
		out = append(out, watch())
		dropNamespace(t, ns)
	}
	return out
}

// inPlaceLatencies measures releases to a color that runs an older
// release: its Deployment rolls to the new template, and the old pods must
// be on their way out before production may select the color.
func inPlaceLatencies(t *testing.T, cut, manifests string, rounds int) []time.Duration {
	ns := namespace(t, "bench-c-in-place")
	bgDeploy(t, cut, manifests, ns, 7, "") // blue
	bgDeploy(t, cut, manifests, ns, 8, "") // green
	var out []time.Duration
	for i := range rounds {
		color := "blue"
		if i%2 == 1 {
			color = "green"
		}
		watch := watchSwitch(t, ns, color)
		bgDeploy(t, cut, manifests, ns, 9+i, "")
		out = append(out, watch())
	}
	dropNamespace(t, ns)
	return out
}

// dropNamespace deletes ns and waits until it is gone, so that the next
// measurement does not share the test bed with its clean-up.
func dropNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := cluster.Client.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + ns})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Deleted {
			return
		}
	}
	t.Fatalf("namespace %s not gone: %v", ns, ctx.Err())
}

// gateway starts the test bed's data plane and returns its gateway's URL:
// /NAMESPACE/SERVICE/PATH reaches a Service's ready pods.
func gateway(t *testing.T) string {
	t.Helper()
	dp, err := dataplane.Start(context.Background(), dataplane.Options{Config: cluster.Config})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Close)
	gw, err := dp.Gateway("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return gw.URL()
}

// warmRouters starts the gateway's routers of ns before a clock does.
func warmRouters(gateway, ns string) {
	for _, svc := range []string{"tomcat-test-green", "tomcat-test-blue", "tomcat-service"} {
		if resp, err := http.Get(gateway + "/" + ns + "/" + svc + "/"); err == nil {
			_ = resp.Body.Close()
		}
	}
}

func printLatency(what string, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	fmt.Printf("  switch latency, %s (the new color's last pod Ready -> production selector switched, as this process's watches saw them), %d runs: median %s, min %s, max %s\n",
		what, len(ds), ds[len(ds)/2].Round(time.Millisecond), ds[0].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

// watchSwitch watches ns's pods of color and its production Service from
// now on; the function it returns waits for the switch to color and gives
// the time from the event in which the color's last pod turned Ready to the
// event in which the production selector named color.
func watchSwitch(t *testing.T, ns, color string) func() time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	pods, err := cluster.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "role=" + color})
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := cluster.Client.CoreV1().Services(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=tomcat-service"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lastReady time.Time
	ready := map[string]bool{}
	go func() {
		for ev := range pods.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted {
				mu.Lock()
				if isReady(p) && !ready[p.Name] {
					ready[p.Name], lastReady = true, time.Now()
				}
				mu.Unlock()
			}
		}
	}()
	// Each event is timed as it arrives, not when the caller asks.
	switched := make(chan time.Duration, 1)
	go func() {
		for ev := range svcs.ResultChan() {
			if s, ok := ev.Object.(*corev1.Service); ok && s.Spec.Selector["role"] == color {
				at := time.Now()
				mu.Lock()
				switched <- at.Sub(lastReady)
				mu.Unlock()
				return
			}
		}
	}()
	return func() time.Duration {
		defer cancel()
		select {
		case d := <-switched:
			return d
		case <-ctx.Done():
			t.Fatal("no switch seen")
			return 0
		}
	}
}

// watchPodStart watches ns's Deployment of color and its pods from now
// on; the function it returns waits until replicas of them are Ready and
// gives the time from the event in which the Deployment was created to the
// event in which the last of them turned Ready: the controllers' and the
// test bed's start-up, which both tools wait for alike.
func watchPodStart(t *testing.T, ns, color string, replicas int) func() time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	deps, err := cluster.Client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=tomcat-deployment-" + color})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cluster.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "role=" + color})
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan time.Time, 1)
	go func() {
		for ev := range deps.ResultChan() {
			if ev.Type == watch.Added {
				created <- time.Now()
				return
			}
		}
	}()
	allReady := make(chan time.Time, 1)
	go func() {
		ready := map[string]bool{}
		for ev := range pods.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted && isReady(p) && !ready[p.Name] {
				if ready[p.Name] = true; len(ready) == replicas {
					allReady <- time.Now()
					return
				}
			}
		}
	}()
	return func() time.Duration {
		defer cancel()
		var from, to time.Time
		for from.IsZero() || to.IsZero() {
			select {
			case from = <-created:
			case to = <-allReady:
			case <-ctx.Done():
				t.Fatalf("%s: the %s pods' start-up was not seen", ns, color)
			}
		}
		return to.Sub(from)
	}
}

// printOwnTime splits each run's wall time into the new color's start-up,
// which both tools wait for, and the rest: the tool's own time.
func printOwnTime(cut, replay []measurement, cutStarts, replayStarts []time.Duration) {
	own := func(ms []measurement, starts []time.Duration) (float64, float64) {
		var o, st []time.Duration
		for i, m := range ms {
			o, st = append(o, m.wall-starts[i]), append(st, starts[i])
		}
		return medianDuration(o).Seconds(), medianDuration(st).Seconds()
	}
	co, cs := own(cut, cutStarts)
	ro, rs := own(replay, replayStarts)
	fmt.Printf("  of which the new color's start-up (its Deployment created -> its last pod Ready; the same for both): cutover runs %.2fs, replay runs %.2fs\n", cs, rs)
	fmt.Printf("  the rest, each tool's own time: cutover %.2fs, replay %.2fs; ratio %.2f\n", co, ro, co/ro)
}

func medianDuration(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func init() {
	// the replay script is run from the package directory
	if _, err := os.Stat("replay-bluegreen.sh"); err != nil {
		panic("bench: run from the bench directory")
	}
}
