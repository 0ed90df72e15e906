package chaos

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/testinfra/audit"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// A canary through the gateway (Scenario.Gateway): the test bed's Traefik
// splits the users' requests by the HTTPRoute's weights (--route), and a
// background analysis of Traefik's own metrics in a real Prometheus
// (error share and mean latency of the canary's Service) judges it from
// the first weight until promotion. These faults are its own:
const (
	// SlowCanary is a canary whose pods answer after 300 ms: no request
	// fails, the latency metric does, and the canary aborts.
	SlowCanary Fault = "slow-canary"
	// PrometheusStop stops Prometheus while the canary holds its first
	// weight: the analysis cannot judge, the canary waits for a person and
	// never promotes; `cutover abort` then ends it.
	PrometheusStop Fault = "prometheus-stop"
	// TraefikRestart kills the gateway when the second weight step starts
	// and starts it again RestartDown later: the route's write is confirmed
	// only once Traefik is back, and the release goes on.
	TraefikRestart Fault = "traefik-restart"
)

// gatewaySeeds run with the CI set as canaries through the gateway, one
// fault each: a bad canary (500s) and a slow one, each aborted by the
// background analysis mid-step; Prometheus stopped; Traefik restarted.
var gatewaySeeds = []struct {
	seed  uint64
	fault Fault
}{{6001, BadCanary}, {6002, SlowCanary}, {6003, PrometheusStop}, {6004, TraefikRestart}}

// gatewayFaults are the faults of a canary through the gateway.
var gatewayFaults = []Fault{None, BadCanary, SlowCanary, PrometheusStop, TraefikRestart, Kill, APIServerRestart}

// The gateway scenario's names.
const (
	routeName      = "tomcat-route"
	canaryService  = prodService + "-canary" // derived by cutover from the route's backend
	backgroundName = "canary health"
	slowDelay      = 300 * time.Millisecond
)

// generateGateway makes a gateway canary scenario of a seed with the given
// fault, or without one the seed's among gatewayFaults.
func generateGateway(seed uint64, f Fault) Scenario {
	if f == "" {
		f = gatewayFaults[seed%uint64(len(gatewayFaults))]
	}
	s := generateCase(seed, faultCase{Canary, f})
	s.Gateway, s.DynamicStable = true, false // a gateway's split keeps stable's pods
	// A deleted pod stays Terminating as long as its app serves (its grace
	// period), as a kubelet keeps it until its containers exit: kwok frees
	// its IP when it goes and hands it out first, to a pod of any
	// namespace, and the gateway, which reaches pods by IP, must not find
	// another app there while its endpoint lingers.
	s.TerminateAfter = time.Duration(s.Grace) * time.Second
	r := rand.New(rand.NewPCG(seed, 0x67_61_74_65))
	s.Steps = gatewaySteps(r)
	if f == TraefikRestart {
		s.RestartDown = ms(500 + r.IntN(1500))
	}
	if f == Kill {
		stages := s.stepStages()
		s.KillAt = stages[r.IntN(len(stages))]
	}
	return s
}

// gatewaySteps draws the steps of a canary through the gateway: two
// weights, each held 4 s, while the background analysis measures every
// second.
func gatewaySteps(r *rand.Rand) string {
	first := []int{10, 25, 50}[r.IntN(3)]
	second := []int{50, 100}[r.IntN(2)]
	return fmt.Sprintf("%d,pause=4s,%d,pause=4s", first, second)
}

// gatewayBed is what a gateway scenario adds to its bed: the gateway, its
// Prometheus, and the watch of what Traefik runs.
type gatewayBed struct {
	gw   *testbed.Gateway
	prom *testbed.Prometheus
	dyn  dynamic.Interface
}

// newGatewayBed starts the scenario's Traefik and Prometheus and writes
// the canary's config, with the background analysis, into dir.
func newGatewayBed(t *testing.T, ns, dir string) (*gatewayBed, string, error) {
	g := &gatewayBed{gw: cluster.RequireGateway(t, ns)}
	cluster.RequireReachablePods(t)
	g.prom = testbed.RequirePrometheus(t, testbed.PrometheusOptions{Targets: []string{g.gw.MetricsAddr}})
	var err error
	if g.dyn, err = dynamic.NewForConfig(cluster.Config); err != nil {
		return nil, "", err
	}
	cfg, err := writeGatewayConfig(dir, ns, g.prom.URL)
	return g, cfg, err
}

// writeGatewayConfig writes the canary's config: the route, and the
// background analysis of the canary's Service as Traefik measures it: its
// share of 5xx answers (above 1% fails) and its mean latency (100 ms or
// more fails), over the last 3 s, every second. The first measurements,
// before the canary's first requests are scraped, find no series: they
// are inconclusive, and a few are tolerated (as are those after Traefik
// restarted, its counters gone); a provider that cannot be reached twice
// in a row makes the analysis unable to judge.
func writeGatewayConfig(dir, ns, promURL string) (string, error) {
	sel := fmt.Sprintf(`service=~".*-svc-%s-%s-.*"`, ns, canaryService)
	metric := func(name, query, success, failure string) string {
		return fmt.Sprintf(`        - name: %s
          prometheus:
            address: %s
            query: '%s'
          interval: 1s
          inconclusiveLimit: 10
          consecutiveErrorLimit: 2
          successCondition: size(result) == 1 && %s
          failureCondition: size(result) == 1 && %s
`, name, promURL, query, success, failure)
	}
	cfg := fmt.Sprintf(`canary:
  httpRoute: %s
  analysis: %s
checks:
  - name: %s
    analysis:
      metrics:
`, routeName, backgroundName, backgroundName) +
		metric("error-share", fmt.Sprintf(`(sum(rate(traefik_service_requests_total{%s,code=~"5.."}[3s])) or vector(0)) / sum(rate(traefik_service_requests_total{%s}[3s]))`, sel, sel),
			"result[0] < 0.01", "result[0] >= 0.01") +
		metric("mean-latency", fmt.Sprintf(`sum(rate(traefik_service_request_duration_seconds_sum{%s}[3s])) / sum(rate(traefik_service_request_duration_seconds_count{%s}[3s]))`, sel, sel),
			"result[0] < 0.1", "result[0] >= 0.1")
	path := filepath.Join(dir, "cutover.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("gateway canary config: %w", err)
	}
	return path, nil
}

// gatewayRoute is the HTTPRoute the manifests add for a gateway scenario:
// everything to the app's Service, through the scenario's Gateway.
func gatewayRoute(gateway string) string {
	return fmt.Sprintf(`---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %s
spec:
  parentRefs: [{name: %s}]
  rules:
  - backendRefs: [{name: %s, port: 80}]
`, routeName, gateway, prodService)
}

// observe feeds the auditor what Traefik runs: the pods it sends to,
// each time that changes (read every 20 ms from its API: it has no watch),
// until ctx ends.
func (g *gatewayBed) observe(ctx context.Context, ns string, a *audit.Auditor) {
	var last []string
	first := true
	for ctx.Err() == nil {
		served, err := g.gw.Served(ctx)
		if err != nil {
			served = nil // down: it sends nowhere
		}
		if first || !slices.Equal(served, last) {
			a.Route(time.Now(), podsAt(ctx, ns, served))
			last, first = served, false
		}
		_ = sleep(ctx, 20*time.Millisecond)
	}
}

// podsAt names the pods at addresses (IP:port), by their IPs; an address
// no pod has stays as it is. A terminating pod keeps its IP until it is
// gone (Traefik may still send to it), unless a live pod has it already.
func podsAt(ctx context.Context, ns string, addrs []string) []string {
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	byIP := map[string]string{}
	if err == nil {
		slices.SortStableFunc(pods.Items, func(a, b corev1.Pod) int { // terminating first: live ones win
			return cmp.Compare(boolInt(b.DeletionTimestamp != nil), boolInt(a.DeletionTimestamp != nil))
		})
		for _, p := range pods.Items {
			if p.Status.PodIP != "" {
				byIP[p.Status.PodIP] = p.Name
			}
		}
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		host, _, _ := net.SplitHostPort(a)
		if name, ok := byIP[host]; ok {
			out = append(out, name)
		} else {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// waitServed waits until Traefik serves the route to n addresses.
func (g *gatewayBed) waitServed(ctx context.Context, n int) error {
	for {
		served, err := g.gw.Served(ctx)
		if err == nil && len(served) == n {
			return nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("traefik serves %v (%v), want %d pods: %w", served, err, n, err)
		}
	}
}

// restartTraefik kills Traefik, starts it again after the scenario's
// RestartDown, and tells the auditor how long the gateway was down: until
// it ran the route again.
func (in *injector) restartTraefik(ctx context.Context) {
	g := in.b.gw
	from := time.Now()
	in.note("traefik killed, starting again in %s", in.b.s.RestartDown)
	if err := g.gw.Restart(ctx, in.b.s.RestartDown); err != nil {
		in.fail(err)
		return
	}
	for {
		if served, err := g.gw.Served(ctx); err == nil && len(served) > 0 {
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			in.fail(fmt.Errorf("traefik ran no route after its restart: %w", err))
			return
		}
	}
	in.outage(from, time.Now())
	in.note("traefik ran the route again %s after it was killed", time.Since(from).Round(time.Millisecond))
}

// stopPrometheus stops the scenario's Prometheus.
func (in *injector) stopPrometheus() {
	if err := in.b.gw.prom.Stop(); err != nil {
		in.fail(err)
		return
	}
	in.note("prometheus stopped")
}

// decide runs `cutover abort` or `cutover promote` once the canary waits
// for a person: after Prometheus stopped nobody can tell whether it is
// good (abort); after Traefik restarted its metrics start again from
// nothing, and an analysis that found no data for too long asks a person,
// who knows the release is good (promote).
func (in *injector) decide(ctx context.Context, verb string) {
	args := append([]string{verb, rollingApp, "--by", "chaos"}, in.b.kube()...)
	r, err := runCutover(ctx, args, nil)
	switch {
	case err != nil:
		in.fail(err)
	case r.exit != exitOK:
		in.fail(fmt.Errorf("cutover %s exited %d: %s", verb, r.exit, r.stderr))
	default:
		in.mu.Lock()
		in.decided = true
		in.mu.Unlock()
		in.note("cutover %s while the canary waited for a person", verb)
	}
}

// onGatewayEvent injects the gateway's faults at their moment.
func (in *injector) onGatewayEvent(ctx context.Context, e event.Event) {
	s := in.b.s
	stages := s.stepStages()
	switch {
	case s.Fault == TraefikRestart && e.Type == event.StageStarted && e.Stage == stages[2]:
		in.once.Do(func() { in.done.Go(func() { in.restartTraefik(ctx) }) })
	case s.Fault == PrometheusStop && e.Type == event.StageStarted && e.Stage == stages[1]:
		in.once.Do(in.stopPrometheus)
	case s.Fault == PrometheusStop && e.Type == event.Approval && e.Status == "waiting":
		in.done.Go(func() { in.decide(ctx, "abort") })
	case s.Fault == TraefikRestart && e.Type == event.Approval && e.Status == "waiting":
		in.done.Go(func() { in.decide(ctx, "promote") })
	}
}

var httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// readCanaryWeight reads the route from the API right after cutover
// confirmed all traffic on stable: the weight of every backendRef to the
// canary's Service must be 0.
func readCanaryWeight(ctx context.Context, dyn dynamic.Interface, ns string) sliceRead {
	route, err := dyn.Resource(httpRoutes).Namespace(ns).Get(ctx, routeName, metav1.GetOptions{})
	r := sliceRead{at: time.Now(), err: err}
	if err != nil {
		return r
	}
	r.rv = route.GetResourceVersion()
	rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	for _, rule := range rules {
		refs, _, _ := unstructured.NestedSlice(rule.(map[string]any), "backendRefs")
		for _, ref := range refs {
			m := ref.(map[string]any)
			if w, _ := m["weight"].(int64); m["name"] == canaryService && w > 0 {
				r.canaryReady = append(r.canaryReady, fmt.Sprintf("%s weight %d", canaryService, w))
			}
		}
	}
	return r
}

// gatewayFailure checks that a canary the analysis aborted names the
// metric that failed: error-share for 500s, mean-latency for a slow one.
func gatewayFailure(t *testing.T, s Scenario, final *run) {
	t.Helper()
	metric := map[Fault]string{BadCanary: "error-share", SlowCanary: "mean-latency"}[s.Fault]
	if metric == "" {
		return
	}
	failed, ok := final.firstFailure()
	if !ok || !strings.Contains(failed.Error, metric) || !strings.HasPrefix(failed.Stage, "Step ") {
		t.Errorf("the %s canary failed stage %q with %q, want a step ended by the background analysis naming %s", s.Fault, failed.Stage, failed.Error, metric)
	}
}

// routeGuard watches the scenario's route and checks, at each of its
// generations, that every backendRef it gives weight to is a Service with
// a ready endpoint (invariant WeightedReady), read from the API at once.
type routeGuard struct {
	mu         sync.Mutex
	violations []audit.Violation
	checked    int
	stop       context.CancelFunc
	done       chan struct{}
}

func (g *gatewayBed) guardRoute(ctx context.Context, ns string) *routeGuard {
	ctx, cancel := context.WithCancel(ctx)
	r := &routeGuard{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		w, err := g.dyn.Resource(httpRoutes).Namespace(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + routeName})
		if err != nil {
			r.add(audit.Violation{Invariant: audit.WeightedReady, Time: time.Now(), Detail: "watch the route: " + err.Error()})
			return
		}
		defer w.Stop()
		for ev := range w.ResultChan() {
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				r.check(ctx, ns, u)
			}
		}
	}()
	return r
}

// check reads the endpoints of every Service the route gives weight to.
func (r *routeGuard) check(ctx context.Context, ns string, u *unstructured.Unstructured) {
	at := time.Now()
	r.mu.Lock()
	r.checked++
	r.mu.Unlock()
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, rule := range rules {
		refs, _, _ := unstructured.NestedSlice(rule.(map[string]any), "backendRefs")
		for _, ref := range refs {
			m := ref.(map[string]any)
			w, set := m["weight"].(int64)
			if set && w == 0 {
				continue
			}
			name := fmt.Sprint(m["name"])
			if n, err := routedEndpoints(ctx, ns, name); err == nil && n == 0 {
				r.add(audit.Violation{Invariant: audit.WeightedReady, Time: at, Detail: fmt.Sprintf(
					"route %s generation %d gives Service %s weight %v, and it has no ready endpoint", routeName, u.GetGeneration(), name, m["weight"])})
			}
		}
	}
}

// checkedSoFar is how many generations the guard has checked.
func (r *routeGuard) checkedSoFar() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checked
}

func (r *routeGuard) add(v audit.Violation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, v)
}

// result stops the watch and returns what it found, and how many
// generations it checked.
func (r *routeGuard) result() ([]audit.Violation, int) {
	r.stop()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.violations, r.checked
}

// routedEndpoints counts the ready endpoints of Service name.
func routedEndpoints(ctx context.Context, ns, name string) (int, error) {
	list, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sl := range list.Items {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}
