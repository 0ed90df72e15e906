package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cutover/cutover/internal/dataplane"
)

// TestBlueGreen is workload (c): the article's blue/green 7 -> 8 on its own
// manifests, cutover beside the seed pipeline replayed in bash (kubectl, jq,
// curl in the article's verify loop), both verifying through the data
// plane's gateway. It also measures cutover's switch latency: from the watch
// event in which the last pod of the new color turned Ready to the one in
// which the production selector changed, both seen by this process.
func TestBlueGreen(t *testing.T) {
	kubectl(t)
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not found: the replay needs it")
	}
	cut := cutoverBin(t)
	dp, err := dataplane.Start(context.Background(), dataplane.Options{Config: cluster.Config})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	gw, err := dp.Gateway("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	manifests, _ := filepath.Abs("../examples/blue-green")
	const rounds = 5
	var cutRuns, replayRuns []measurement
	var latencies []time.Duration
	for i := range rounds {
		nsC, nsR := namespace(t, fmt.Sprintf("bench-c-cutover-%d", i)), namespace(t, fmt.Sprintf("bench-c-replay-%d", i))
		deployArgs := func(ns, v string) []string {
			return []string{cut, "deploy", "--strategy", "blue-green", "-f", manifests, "--service", "tomcat-service",
				"--var", "TOMCAT_VERSION=" + v, "-n", ns, "--kubeconfig", "KUBECONFIG", "-o", "json",
				"--verify-url", gw.URL() + "/" + ns + "/tomcat-test-{color}/", "--verify-contains", "Apache Tomcat/" + v}
		}
		runTool(t, "cutover", deployArgs(nsC, "7")) // first deploy: blue
		runTool(t, "cutover", deployArgs(nsR, "7")) // the replay starts from the same state
		for _, ns := range []string{nsC, nsR} {     // start the gateway's routers before the clock does
			for _, svc := range []string{"tomcat-test-green", "tomcat-service"} {
				if resp, err := http.Get(gw.URL() + "/" + ns + "/" + svc + "/"); err == nil {
					_ = resp.Body.Close()
				}
			}
		}
		watch := watchSwitch(t, nsC, "green")
		cutRuns = append(cutRuns, runTool(t, "cutover", deployArgs(nsC, "8")))
		latencies = append(latencies, watch())
		replayRuns = append(replayRuns, runTool(t, "replay", []string{"./replay-bluegreen.sh",
			nsR, "8", gw.URL(), manifests, "KUBECONFIG"}))
	}
	report(t, "(c) blue/green 7 -> 8, the article's manifests; peer: the seed pipeline replayed in bash", cutRuns, replayRuns)
	printLatency("with Verify Staged's HTTP check", latencies)
	printLatency("no checks", switchLatencies(t, cut, manifests, rounds))
}

// switchLatencies measures releases without checks, so that the latency is
// cutover's own: noticing the color is complete, and switching.
func switchLatencies(t *testing.T, cut, manifests string, rounds int) []time.Duration {
	ns := namespace(t, "bench-c-latency")
	deploy := func(v int) {
		runTool(t, "cutover", []string{cut, "deploy", "--strategy", "blue-green", "-f", manifests, "--service", "tomcat-service",
			"--var", fmt.Sprintf("TOMCAT_VERSION=%d", v), "-n", ns, "--kubeconfig", "KUBECONFIG", "-o", "json"})
	}
	deploy(7) // blue
	var out []time.Duration
	for i := range rounds {
		color := "green"
		if i%2 == 1 {
			color = "blue"
		}
		watch := watchSwitch(t, ns, color)
		deploy(8 + i)
		out = append(out, watch())
	}
	return out
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
	return func() time.Duration {
		defer cancel()
		for ev := range svcs.ResultChan() {
			if s, ok := ev.Object.(*corev1.Service); ok && s.Spec.Selector["role"] == color {
				switched := time.Now()
				mu.Lock()
				defer mu.Unlock()
				return switched.Sub(lastReady)
			}
		}
		t.Fatal("no switch seen")
		return 0
	}
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
