package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestTimeline is a diagnostic, not a measurement: with CUTOVER_TIMELINE=1
// it releases the article's manifests 7, 8, ... 12 (a fresh color, then
// colors updated in place) and prints, per release, one timeline of what
// this process's watches saw (pods, ReplicaSets, Deployments, EndpointSlices,
// the production Service) merged with cutover's own JSON events, in
// milliseconds from the start of the run, with every API request cutover
// made (its --debug lines). With CUTOVER_TIMELINE_CHECK=1 the
// releases verify through the data plane's gateway. It is how the switch
// latency was taken apart: read it to see which hop a change costs.
func TestTimeline(t *testing.T) {
	if os.Getenv("CUTOVER_TIMELINE") == "" {
		t.Skip("set CUTOVER_TIMELINE=1")
	}
	cut := cutoverBin(t)
	manifests, _ := filepath.Abs("../examples/blue-green")
	ns := namespace(t, "timeline")
	gw := gateway(t)
	for v := 7; v <= 12; v++ {
		warmRouters(gw, ns)
		tl := startTimeline(t, ns)
		args := []string{"deploy", "--strategy", "blue-green", "-f", manifests, "--service", "tomcat-service",
			"--var", fmt.Sprintf("TOMCAT_VERSION=%d", v), "-n", ns, "--kubeconfig", cluster.Kubeconfig, "-o", "json", "--debug"}
		if os.Getenv("CUTOVER_TIMELINE_CHECK") != "" {
			args = append(args, "--verify-url", gw+"/"+ns+"/tomcat-test-{color}/", "--verify-contains", fmt.Sprintf("Apache Tomcat/%d", v))
		}
		tl.run(t, cut, args)
		time.Sleep(300 * time.Millisecond) // the controllers' last hops
		fmt.Printf("---- release %d\n", v)
		tl.print()
	}
}

type timeline struct {
	start  time.Time
	cancel context.CancelFunc
	mu     sync.Mutex
	lines  []timed
}

type timed struct {
	at   time.Duration
	line string
}

// startTimeline watches ns; the clock starts once the watches have
// delivered the state they start from.
func startTimeline(t *testing.T, ns string) *timeline {
	ctx, cancel := context.WithCancel(context.Background())
	tl := &timeline{cancel: cancel, start: time.Now().Add(time.Hour)}
	c := cluster.Client
	opts := metav1.ListOptions{}
	watches := map[string]func() (watch.Interface, error){
		"pod": func() (watch.Interface, error) { return c.CoreV1().Pods(ns).Watch(ctx, opts) },
		"rs":  func() (watch.Interface, error) { return c.AppsV1().ReplicaSets(ns).Watch(ctx, opts) },
		"dep": func() (watch.Interface, error) { return c.AppsV1().Deployments(ns).Watch(ctx, opts) },
		"eps": func() (watch.Interface, error) { return c.DiscoveryV1().EndpointSlices(ns).Watch(ctx, opts) },
		"svc": func() (watch.Interface, error) { return c.CoreV1().Services(ns).Watch(ctx, opts) },
	}
	for name, start := range watches {
		w, err := start()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for ev := range w.ResultChan() {
				tl.add(fmt.Sprintf("%s %s %s", name, ev.Type, describe(ev.Object)))
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	tl.mu.Lock()
	tl.start, tl.lines = time.Now(), nil
	tl.mu.Unlock()
	return tl
}

func (tl *timeline) add(line string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if at := time.Since(tl.start); at >= 0 {
		tl.lines = append(tl.lines, timed{at, line})
	}
}

// run runs cutover, adding each line it prints (its events, and its API
// requests from --debug) as it arrives.
func (tl *timeline) run(t *testing.T, bin string, args []string) {
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	tl.add("exec cutover")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for prefix, r := range map[string]io.Reader{"cutover ": out, "request ": errs} {
		wg.Go(func() {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				tl.add(prefix + sc.Text())
			}
		})
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cutover: %v", err)
	}
}

func (tl *timeline) print() {
	tl.cancel()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	sort.SliceStable(tl.lines, func(i, j int) bool { return tl.lines[i].at < tl.lines[j].at })
	for _, l := range tl.lines {
		fmt.Printf("%8.1fms %s\n", float64(l.at.Microseconds())/1000, l.line)
	}
}

func describe(o any) string {
	switch x := o.(type) {
	case *corev1.Pod:
		state := fmt.Sprintf("ready=%v", isReady(x))
		if x.DeletionTimestamp != nil {
			state += " terminating"
		}
		return fmt.Sprintf("%s %s %s", x.Name, x.Status.Phase, state)
	case *appsv1.ReplicaSet:
		return fmt.Sprintf("%s spec=%d replicas=%d ready=%d", x.Name, *x.Spec.Replicas, x.Status.Replicas, x.Status.ReadyReplicas)
	case *appsv1.Deployment:
		return fmt.Sprintf("%s generation=%d observed=%d replicas=%d updated=%d ready=%d available=%d", x.Name, x.Generation,
			x.Status.ObservedGeneration, x.Status.Replicas, x.Status.UpdatedReplicas, x.Status.ReadyReplicas, x.Status.AvailableReplicas)
	case *discoveryv1.EndpointSlice:
		var eps []string
		for _, e := range x.Endpoints {
			if e.TargetRef != nil {
				eps = append(eps, fmt.Sprintf("%s(ready=%v,terminating=%v)", e.TargetRef.Name, deref(e.Conditions.Ready), deref(e.Conditions.Terminating)))
			}
		}
		return fmt.Sprintf("%s %v", x.Labels[discoveryv1.LabelServiceName], eps)
	case *corev1.Service:
		return fmt.Sprintf("%s selector=%v", x.Name, x.Spec.Selector)
	}
	return fmt.Sprintf("%T", o)
}

func deref(b *bool) bool { return b != nil && *b }
