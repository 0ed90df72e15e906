package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/testinfra/audit"
)

// canarySeeds run with the CI set as canary releases, one fault each:
// none (a good canary goes all the way), bad-canary (its pods answer 500
// and the analysis step fails), crash-loop and never-ready (the first
// weight step fails), kill (SIGKILL at the start of a step, then a rerun
// resumes) and apiserver-restart (while the first weight step waits).
var canarySeeds = []struct {
	seed  uint64
	fault Fault
}{{5000, None}, {5001, BadCanary}, {5002, CrashLoop}, {5003, NeverReady}, {5004, Kill}, {5005, APIServerRestart}}

// canaryFaults are the faults that apply to a canary release.
var canaryFaults = []Fault{None, BadCanary, CrashLoop, NeverReady, Kill, APIServerRestart}

// faultList joins faults for a flag's help.
func faultList(fs []Fault) string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return strings.Join(out, ", ")
}

// analysisName names the config file's check that a canary's analysis
// step runs: the users' failed share (checkServer.failedShare).
const analysisName = "error-rate"

// canarySteps draws a canary's steps: a first weight, the analysis of the
// users' failed share, a pause and a second weight, then promotion. Each
// fault meets one of them: the pods' faults the first weight, a bad
// release the analysis; a kill may land at any of them.
func canarySteps(r *rand.Rand) string {
	first := []int{10, 25, 50}[r.IntN(3)]
	second := []int{50, 100}[r.IntN(2)]
	return fmt.Sprintf("%d,analysis=%s,pause=1s,%d", first, analysisName, second)
}

// stepStages are cutover's stage names of the canary's steps, in order,
// e.g. "Step 1/4: weight 10%".
func (s Scenario) stepStages() []string {
	parsed, err := config.ParseSteps(s.Steps)
	if err != nil {
		panic(fmt.Sprintf("seed %d: steps %q: %v", s.Seed, s.Steps, err)) // canarySteps writes them
	}
	steps := engine.ConfigSteps(parsed)
	out := make([]string, len(steps))
	for i, st := range steps {
		out[i] = fmt.Sprintf("Step %d/%d: %s", i+1, len(steps), st)
	}
	return out
}

// faultStage is the stage the canary's fault must fail: the first weight
// for pods that never get ready, the analysis for a release that answers
// 500; "" for the other faults.
func (s Scenario) faultStage() string {
	if s.Gateway && (s.Fault == BadCanary || s.Fault == SlowCanary) {
		return "" // the background analysis ends whichever step runs: gatewayFailure
	}
	switch s.Fault {
	case NeverReady, CrashLoop:
		return s.stepStages()[0]
	case BadCanary:
		return s.stepStages()[1]
	}
	return ""
}

// canaryPods selects the canary's pods, not stable's.
var canaryPods = labels.SelectorFromSet(labels.Set{strategy.TrackLabel: strategy.TrackCanary})

const canaryDeployment = rollingApp + strategy.CanarySuffix

// countedPods are the pods whose failed answers the auditor counts rather
// than judges: a bad canary's, which users meet until the abort.
func (s Scenario) countedPods() labels.Selector {
	if s.Fault == BadCanary {
		return canaryPods
	}
	return nil
}

// writeCanaryConfig writes the config file that holds the analysis step's
// check and returns its path: a web metric of the failed share of the
// canary's requests over the last second (failedShare), measured four
// times in a second; one failed measurement fails it, one with no canary
// request could not be taken.
func writeCanaryConfig(dir, checkURL string) (string, error) {
	cfg := fmt.Sprintf(`checks:
  - name: %s
    analysis:
      metrics:
        - name: failed-share
          web:
            url: %s/errors
            jsonPath: '{.share}'
          interval: 250ms
          count: 4
          successCondition: result < 0.01
`, analysisName, checkURL)
	path := filepath.Join(dir, "cutover.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("canary config: %w", err)
	}
	return path, nil
}

// failedWindow is how far back the analysis looks at the users' requests.
const failedWindow = time.Second

// failedShare answers the analysis: the share of the requests that the
// canary's pods answered in the last failedWindow that failed, as a
// PromQL ratio of the canary's errors to its requests does. With no
// request answered by a canary pod in the window it gives no share, so
// the measurement cannot be taken: "no canary traffic yet" (the router,
// kube-proxy's stand-in, has not learned the canary's endpoints) must
// never read as "no errors". The router sends requests round robin, so
// once the canary's pods are among its endpoints they answer at least 1
// in 11 (one canary pod beside 10 stable ones): a canary that answers 500
// fails all of its share, far more than the 1% the analysis allows.
func (c *checkServer) failedShare(w http.ResponseWriter, _ *http.Request) {
	since := time.Now().Add(-failedWindow)
	var total, failed, all int
	for _, o := range c.b.prod.Outcomes() {
		if o.Time.Before(since) {
			continue
		}
		all++
		if !strings.HasPrefix(o.Pod, canaryDeployment+"-") {
			continue
		}
		total++
		if o.Failed() {
			failed++
		}
	}
	doc := map[string]any{"failed": failed, "total": total, "requests": all}
	if total > 0 {
		doc["share"] = float64(failed) / float64(total)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// canaryJudge checks what a canary scenario leaves and what its users
// saw, beyond the checks every scenario gets. Its methods do nothing on
// a nil canaryJudge (the other strategies).
type canaryJudge struct {
	s     Scenario
	ns    string
	gw    *gatewayBed // a canary through the gateway
	route *routeGuard // its route's weights, checked
	// stable is the stable Deployment's spec before the faulted deploy:
	// a canary aborted before Promote must leave it as it was.
	stable appsv1.DeploymentSpec

	mu sync.Mutex
	// reads are the EndpointSlices read from the API right after each
	// confirmation that all traffic is on stable, by the event's time.
	reads map[int64]sliceRead
}

// sliceRead is what the API's EndpointSlices of production said right
// after cutover confirmed all traffic on stable.
type sliceRead struct {
	at time.Time
	rv string
	// canaryReady are canary pods still ready endpoints.
	canaryReady []string
	err         error
}

// newCanaryJudge notes the stable Deployment after the clean deploy of 7.
func newCanaryJudge(ctx context.Context, t *testing.T, b *bed) *canaryJudge {
	t.Helper()
	if b.s.Strategy != Canary {
		return nil
	}
	d, err := cluster.Client.AppsV1().Deployments(b.ns).Get(ctx, rollingApp, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("stable deployment after 7: %v", err)
	}
	j := &canaryJudge{s: b.s, ns: b.ns, gw: b.gw, stable: d.Spec, reads: map[int64]sliceRead{}}
	if b.gw != nil {
		j.route = b.gw.guardRoute(ctx, b.ns)
	}
	return j
}

// onEvent reads production's EndpointSlices from the API as soon as
// cutover confirms all traffic on stable. The read is consistent (etcd's
// latest revision) and comes after cutover saw the revision it confirmed,
// so a canary pod that is a ready endpoint there either was one when
// cutover said none was, or came back after: a breach either way. The
// Auditor's watches cannot tell: like the router's, they may deliver the
// confirmed revision a moment after cutover's watch did.
func (j *canaryJudge) onEvent(ctx context.Context, e event.Event) {
	if j == nil || e.Type != event.Traffic || e.Status != "stable" {
		return
	}
	r := readCanaryEndpoints(ctx, j.ns)
	if j.gw != nil { // the route, not the Service, keeps users off the canary
		r = readCanaryWeight(ctx, j.gw.dyn, j.ns)
	}
	j.mu.Lock()
	j.reads[e.Time.UnixNano()] = r
	j.mu.Unlock()
}

func readCanaryEndpoints(ctx context.Context, ns string) sliceRead {
	list, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).List(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + prodService})
	r := sliceRead{at: time.Now(), err: err}
	if err != nil {
		return r
	}
	r.rv = list.ResourceVersion
	for _, sl := range list.Items {
		for _, ep := range sl.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready // as kube-proxy reads it
			// The canary's pods are named after its Deployment; stable's
			// pod-template-hash, which follows its name, has no vowels.
			if ready && ep.TargetRef != nil && strings.HasPrefix(ep.TargetRef.Name, canaryDeployment+"-") {
				r.canaryReady = append(r.canaryReady, ep.TargetRef.Name)
			}
		}
	}
	return r
}

// violations are the canary's invariants: the Service never routed to a
// pod that never got ready; when cutover confirmed all traffic on stable
// (the abort, or the scale-down after promotion) the API's EndpointSlices
// had no canary pod as a ready endpoint; and once the router had them too,
// no request reached a canary pod. note describes the canary's traffic for
// the summary.
func (j *canaryJudge) violations(t *testing.T, rep *audit.Report, final *run) (vs []audit.Violation, note string) {
	t.Helper()
	if j == nil {
		return nil, ""
	}
	vs = rep.CheckRoutedReady()
	if j.route != nil {
		weighted, checked := j.route.result()
		vs = append(vs, weighted...)
		t.Logf("the route's weights, checked at each of its %d changes: %d gave weight to a Service with no ready endpoint", checked, len(weighted))
	}
	confirmed, ok := final.trafficStable()
	if !ok {
		if final.exit == exitOK || final.exit == exitRolledBack {
			t.Errorf("cutover exited %d and never confirmed all traffic on stable (no traffic event with status stable)", final.exit)
		}
		return vs, "canary: " + rep.Exposure(canaryPods, time.Time{}).String()
	}
	read, readVs := j.readAt(t, confirmed)
	vs = append(append(vs, readVs...), rep.CheckDrained(canaryPods, confirmed.Time)...)
	x, d := rep.Exposure(canaryPods, confirmed.Time), rep.Drain(canaryPods, confirmed.Time)
	t.Logf("while the canary ran, until cutover confirmed all traffic on stable (%s, stage %s): %s", stamp(confirmed.Time), confirmed.Stage, x)
	t.Logf("after the confirmation: %s; %s", read, d)
	return vs, fmt.Sprintf("canary: %s; after %s: %s", x, confirmed.Stage, d)
}

// readAt checks the EndpointSlices read right after confirmed, and
// describes the read.
func (j *canaryJudge) readAt(t *testing.T, confirmed event.Event) (string, []audit.Violation) {
	t.Helper()
	j.mu.Lock()
	r, ok := j.reads[confirmed.Time.UnixNano()]
	j.mu.Unlock()
	switch {
	case !ok:
		t.Errorf("the EndpointSlices were not read after the confirmation at %s", stamp(confirmed.Time))
		return "no read", nil
	case r.err != nil:
		t.Errorf("read the EndpointSlices after the confirmation at %s: %v", stamp(confirmed.Time), r.err)
		return "no read", nil
	}
	read := fmt.Sprintf("the API's EndpointSlices read %s later (resourceVersion %s) had %d canary pods as ready endpoints",
		r.at.Sub(confirmed.Time).Round(time.Millisecond), r.rv, len(r.canaryReady))
	if j.gw != nil {
		read = fmt.Sprintf("the route read %s later (resourceVersion %s) gave the canary weight in %d backendRefs",
			r.at.Sub(confirmed.Time).Round(time.Millisecond), r.rv, len(r.canaryReady))
	}
	if len(r.canaryReady) == 0 {
		return read, nil
	}
	return read, []audit.Violation{{Invariant: audit.Drained, Time: confirmed.Time, Detail: fmt.Sprintf(
		"cutover confirmed all traffic on stable at %s, yet %s: %s", stamp(confirmed.Time), read, strings.Join(r.canaryReady, " "))}}
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }

// check checks the Deployments and the runs: the canary asks for no pod,
// stable runs the release the outcome says (untouched if Promote never
// started), the fault failed the stage it must, and a kill or a restart
// came (a stage renamed in cutover would otherwise leave the fault out
// unnoticed).
func (j *canaryJudge) check(ctx context.Context, t *testing.T, runs []*run, in *injector, want Outcome) {
	t.Helper()
	if j == nil {
		return
	}
	final := runs[len(runs)-1]
	j.checkCanaryDown(ctx, t, final.exit)
	j.checkStable(ctx, t, runs, want)
	if stage := j.s.faultStage(); stage != "" {
		if failed, ok := final.firstFailure(); !ok || failed.Stage != stage {
			t.Errorf("the %s canary failed stage %q, want %q", j.s.Fault, failed.Stage, stage)
		}
	}
	if j.s.Fault == Kill && runs[0].killed.IsZero() {
		t.Errorf("the kill at the start of %q never came: cutover exited %d first", j.s.KillAt, runs[0].exit)
	}
	if j.s.Fault == APIServerRestart && !in.restarted() {
		t.Errorf("kube-apiserver was never restarted: cutover exited %d first", final.exit)
	}
	if j.gw != nil {
		gatewayFailure(t, j.s, final)
	}
}

// checkCanaryDown checks that the canary Deployment asks for no pod: it
// exists once a run got as far as its steps (a success or an abort).
func (j *canaryJudge) checkCanaryDown(ctx context.Context, t *testing.T, exit int) {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(j.ns).Get(ctx, canaryDeployment, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && exit != exitOK && exit != exitRolledBack:
		// refused before any write: there is no canary
	case err != nil:
		t.Errorf("canary deployment after exit %d: %v", exit, err)
	case d.Spec.Replicas == nil || *d.Spec.Replicas != 0:
		t.Errorf("%s asks for %s replicas after exit %d, want 0", canaryDeployment, ptrText(d.Spec.Replicas), exit)
	}
}

// checkStable checks the stable Deployment: the new release after a
// success; after a failure its template and replicas as they were, when
// no run began to promote (the files' Deployment is only written there).
func (j *canaryJudge) checkStable(ctx context.Context, t *testing.T, runs []*run, want Outcome) {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(j.ns).Get(ctx, rollingApp, metav1.GetOptions{})
	if err != nil {
		t.Errorf("stable deployment: %v", err)
		return
	}
	if image := d.Spec.Template.Spec.Containers[0].Image; image != "tomcat:"+want.Version {
		t.Errorf("stable runs %s, want tomcat:%s", image, want.Version)
	}
	promoted := slices.ContainsFunc(runs, func(r *run) bool { return r.stageStarted(strategy.StagePromote) })
	if want.Exit == exitOK || promoted {
		return
	}
	if !equality.Semantic.DeepEqual(d.Spec.Template, j.stable.Template) || !equality.Semantic.DeepEqual(d.Spec.Replicas, j.stable.Replicas) {
		t.Errorf("stable changed though the canary never reached Promote: template or replicas differ from before the deploy (replicas %s, was %s)",
			ptrText(d.Spec.Replicas), ptrText(j.stable.Replicas))
	}
}

func ptrText(p *int32) string {
	if p == nil {
		return "nil"
	}
	return strconv.Itoa(int(*p))
}

// trafficStable is the run's last confirmation that all traffic is on
// stable (type traffic, status stable): after an abort, or the canary's
// scale-down after promotion.
func (r *run) trafficStable() (event.Event, bool) {
	for _, e := range slices.Backward(r.events) {
		if e.Type == event.Traffic && e.Status == "stable" {
			return e, true
		}
	}
	return event.Event{}, false
}

// stageStarted reports whether the run started stage.
func (r *run) stageStarted(stage string) bool {
	return slices.ContainsFunc(r.events, func(e event.Event) bool { return e.Type == event.StageStarted && e.Stage == stage })
}
