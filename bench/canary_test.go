package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/prometheus/common/model"

	"github.com/cutover/cutover/internal/route"
	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// The conditions both tools get: users' requests per second through each
// gateway, Prometheus's scrape interval, the step hold, and the query's
// rate window.
const (
	usersRate   = 50
	scrape      = time.Second
	stepHold    = 10 * time.Second // Flagger's least analysis interval
	queryWindow = stepHold         // Flagger's {{ interval }}, the same in both queries
)

// canaryApp is the app of both tools: Deployment web, two pods of
// tomcat:${TOMCAT_VERSION} answering ${STATUS} on their own IPs (the data
// plane listens on the first containerPort), with a preStop sleep as the
// e2e's so that a pod taken out of the endpoints finishes what it was
// sent. The sleep is an exec, not the e2e's sleep action: Flagger v1.36.1
// predates that action (its k8s.io/api drops the field), and the primary
// it copies from web then has an empty preStop, which the API server
// refuses. A deleted pod stays Terminating for its grace period
// (terminate-after), as long as the data plane serves it: kwok would
// otherwise remove it at once and hand its IP to the next pod while the
// old one still answers there, and Traefik's requests to the new pod
// would reach the old version (seen: Tomcat/7 answering through a new
// stable pod's address 2 s after the promotion).
const canaryApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        testbed.cutover.dev/http-status: "${STATUS}"
        testbed.cutover.dev/terminate-after: 5s
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: tomcat:${TOMCAT_VERSION}
        ports:
        - containerPort: 8080
        lifecycle: {preStop: {exec: {command: [sleep, "2"]}}}
`

// cutoverRoute is what cutover's files add to the app: Service web and
// route web through the namespace's Gateway (Flagger makes its own).
const cutoverRoute = `---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: GATEWAY}]
  rules:
  - backendRefs: [{name: web, port: 80}]
`

// cutoverCanary is cutover's side: Flagger's steps, each held 10 s by ten
// measurements a second apart (after a first second in which Prometheus
// cannot have two samples of the canary's new series anyway, so that the
// step holds 10 s as Flagger's does, not 9), rolled back by one failed
// measurement, over the same query and threshold; the first seconds of a
// step, before the canary has samples, are inconclusive, not failed.
const cutoverCanary = `strategy: canary
canary:
  httpRoute: web
  steps:
    - setWeight: 10
    - analysis: errors
    - setWeight: 50
    - analysis: errors
checks:
  - name: errors
    analysis:
      metrics:
        - name: error-rate
          prometheus:
            address: PROMETHEUS
            query: 'QUERY'
          initialDelay: 1s
          interval: 1s
          count: 10
          failureLimit: 0
          inconclusiveLimit: 5
          successCondition: size(result) == 1 && result[0] < 0.01
          failureCondition: size(result) == 1 && result[0] >= 0.01
`

// errorRatio is both tools' analysis: the share of the canary's answers
// through Traefik (its backend web-canary in namespace ns) that were 5xx
// over the last queryWindow; 0 when it answered only well, no value when
// it answered nothing.
func errorRatio(ns string) string {
	sel := fmt.Sprintf(`service=~".*-svc-%s-web-canary-.*"`, ns)
	w := model.Duration(queryWindow).String()
	return fmt.Sprintf(`(sum(rate(traefik_service_requests_total{%s,code=~"5.."}[%s])) or vector(0)) / sum(rate(traefik_service_requests_total{%s}[%s]))`, sel, w, sel, w)
}

// TestCanaryAgainstFlagger is workload (c), issue 15: cutover's canary
// through the Gateway API against Flagger's, each in a namespace of its
// own with its own Traefik and data plane, one Prometheus scraping both,
// the same app, steps, hold, query and threshold, users' requests through
// each gateway. Per tool, a bad release (its pods answer 500) then a good
// one; then the physical floor of a rollback. It prints the figures side
// by side with the goals; it asserts only what must hold (the bad release
// rolled back, the good one promoted without a failed request).
func TestCanaryAgainstFlagger(t *testing.T) {
	flaggerDir := requireCanaryBench(t)
	cut := cutoverBin(t)
	cluster.RequireReachablePods(t)
	bedC, bedF := newCanaryBed(t, "bench-c-cutover"), newCanaryBed(t, "bench-c-flagger")
	prom := testbed.RequirePrometheus(t, testbed.PrometheusOptions{
		Targets: []string{bedC.gw.MetricsAddr, bedF.gw.MetricsAddr}, ScrapeInterval: scrape})

	c := setupCutover(t, cut, bedC, prom.URL)
	cutover := measureTool(t, "cutover", bedC, c.release, "web")
	f := setupFlagger(t, flaggerDir, bedF, prom.URL)
	flagger := measureTool(t, "Flagger", bedF, f.release, "web-primary")
	printCanaryReport(cutover, flagger, measureFloor(t, bedC, prom.URL))
}

// requireCanaryBench skips unless the machine can run both tools through
// a real gateway, and returns Flagger's directory.
func requireCanaryBench(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 || os.Getenv(testbed.GatewayBinEnv) == "" || os.Getenv(flaggerBinEnv) == "" {
		t.Skipf("the canary against Flagger needs root (Traefik's interface, pods on their own IPs, Prometheus), %s (upstream/gateway.sh) and %s (upstream/flagger.sh): make bench as root builds and sets them",
			testbed.GatewayBinEnv, flaggerBinEnv)
	}
	return os.Getenv(flaggerBinEnv)
}

// canaryBed is one tool's namespace: its own Traefik in front of pods
// that answer on their own IPs, and a watch of route web from the start.
type canaryBed struct {
	ns    string
	gw    *testbed.Gateway
	dyn   dynamic.Interface
	route *objectLog
}

func newCanaryBed(t *testing.T, name string) *canaryBed {
	t.Helper()
	b := &canaryBed{ns: namespace(t, name)}
	b.gw = cluster.RequireGateway(t, b.ns)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dp, err := dataplane.Start(ctx, dataplane.Options{Config: cluster.Config, Namespace: b.ns, PodAddresses: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Close)
	if b.dyn, err = dynamic.NewForConfig(cluster.Config); err != nil {
		t.Fatal(err)
	}
	b.route = watchObject(t, b.dyn.Resource(route.HTTPRoutes).Namespace(b.ns), "web")
	return b
}

// release is what one release of a tool left: when it started and when
// promotion completed (zero if it did not), how it ended, and every
// request the users sent meanwhile, from a second before to a second
// after the route was confirmed on stable.
type release struct {
	start, promoted time.Time
	outcome         string // "promoted", "rolled back", or what else happened
	printed         string // what the tool printed
	load            *dataplane.LoadResult
	sent            []dataplane.Outcome
}

// releaser runs a release of version, its pods answering status, and
// returns when promotion completed (zero if it did not), how it ended, and
// what the tool printed, if anything, for a failure message.
type releaser func(ctx context.Context, version, status string) (time.Time, string, string)

// measure runs one release under the users' load.
func (b *canaryBed) measure(t *testing.T, version, status string, run releaser) release {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var sent []dataplane.Outcome
	stop := b.load(ctx, func(o dataplane.Outcome) { mu.Lock(); sent = append(sent, o); mu.Unlock() })
	time.Sleep(time.Second) // users before the release starts
	r := release{start: time.Now()}
	r.promoted, r.outcome, r.printed = run(ctx, version, status)
	if _, _, err := b.route.wait(ctx, func() (time.Time, *unstructured.Unstructured, bool) {
		return b.route.holdsFrom(time.Now(), onStable)
	}); err != nil {
		t.Errorf("%s: after the release of %s the route is not back on stable: %v (last seen: %s)", b.ns, version, err, describeRoute(b.route.last()))
	}
	time.Sleep(time.Second) // and after it
	r.load = stop()
	mu.Lock()
	defer mu.Unlock()
	r.sent = sent
	return r
}

// load sends the users' requests through the gateway, each on a new
// connection, until the returned function is called.
func (b *canaryBed) load(ctx context.Context, record func(dataplane.Outcome)) func() *dataplane.LoadResult {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan *dataplane.LoadResult, 1)
	go func() {
		done <- dataplane.Load(ctx, dataplane.LoadOptions{URL: b.gw.URL + "/", Rate: usersRate, Record: record})
	}()
	return func() *dataplane.LoadResult { cancel(); return <-done }
}

// measureTool runs a bad release (tomcat:9 answering 500) and a good one
// (tomcat:8) of a tool whose stable Deployment is stable, and checks that
// the first rolled back and the second promoted without a failed request.
func measureTool(t *testing.T, tool string, b *canaryBed, run releaser, stable string) figures {
	t.Helper()
	bad := b.measure(t, "9", "500", run)
	if bad.outcome != "rolled back" {
		t.Errorf("%s: the bad release: %s, want rolled back\n%s", tool, bad.outcome, bad.printed)
	}
	assertImage(t, tool, b.ns, stable, "tomcat:7")
	// The bad canary's 500s leave the query's window before the next
	// release: its canary has the same backend in Traefik, and a good
	// release started within the window of the rollback is judged on the
	// bad one's errors (cutover's first measurement, a second in, failed
	// at 0.69 that way).
	time.Sleep(queryWindow + 2*scrape)
	good := b.measure(t, "8", "200", run)
	if good.outcome != "promoted" {
		t.Errorf("%s: the good release: %s, want promoted\n%s", tool, good.outcome, good.printed)
	}
	assertImage(t, tool, b.ns, stable, "tomcat:8")
	if good.load.Failures > 0 {
		t.Errorf("%s: the good release failed %d of %d users' requests: %q", tool, good.load.Failures, good.load.Total, good.load.FailureDetails)
	}
	t.Logf("%s: users during the bad release: %s; during the good one: %s", tool, bad.load, good.load)
	return figuresOf(t, tool, b, bad, good)
}

func assertImage(t *testing.T, tool, ns, name, want string) {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Errorf("%s: %v", tool, err)
		return
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("%s: stable Deployment %s runs %s, want %s", tool, name, got, want)
	}
}

// figures are one tool's results.
type figures struct {
	tool string
	// The good release: from its start until promotion completed (as the
	// tool says), until the last request answered by the old version was
	// sent, and how long the route held 10% (as its watch saw it).
	promote, lastOld, hold time.Duration
	goodFailed, goodTotal  int
	// The bad release: the users' failed requests, the time from the first
	// failed request until the route was confirmed on stable, and when the
	// last failed request was sent, from that moment.
	badFailed, badTotal int
	window, lastFailure time.Duration
}

func figuresOf(t *testing.T, tool string, b *canaryBed, bad, good release) figures {
	t.Helper()
	f := figures{tool: tool, goodFailed: good.load.Failures, goodTotal: good.load.Total, badTotal: len(bad.sent)}
	if !good.promoted.IsZero() {
		f.promote = good.promoted.Sub(good.start)
	}
	if last, ok := good.load.LastSent["Tomcat/7"]; ok {
		f.lastOld = last.Sub(good.start)
	}
	at10, _, ok10 := b.route.holdsFrom(good.start, canaryWeight(10))
	at50, _, ok50 := b.route.holdsFrom(good.start, canaryWeight(50))
	if ok10 && ok50 {
		f.hold = at50.Sub(at10)
	}
	var first, last time.Time
	for _, o := range bad.sent {
		if failed(o) {
			f.badFailed++
			first, last = earliest(first, o.Time), latest(last, o.Time)
		}
	}
	if f.badFailed == 0 {
		t.Errorf("%s: no request failed during the bad release: the canary got no traffic?", tool)
		return f
	}
	confirmed, _, ok := b.route.holdsFrom(first, onStable)
	if !ok {
		t.Errorf("%s: the route was never confirmed on stable after the first failure", tool)
		return f
	}
	f.window, f.lastFailure = confirmed.Sub(first), last.Sub(confirmed)
	return f
}

// failed is a request that failed as its user sees it, as
// LoadResult.Failures counts them: no answer, or a status other than 2xx,
// whoever answered it (a pod's own 500 included).
func failed(o dataplane.Outcome) bool {
	return o.Err != "" || o.Status < 200 || o.Status > 299
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// cutoverSide is cutover's app and canary config in its namespace.
type cutoverSide struct {
	bin, ns, app, cfg string
}

// setupCutover writes cutover's files and deploys version 7 by a rolling
// update, as a first release is: nothing to compare a canary with.
func setupCutover(t *testing.T, bin string, b *canaryBed, promURL string) *cutoverSide {
	t.Helper()
	dir := t.TempDir()
	c := &cutoverSide{bin: bin, ns: b.ns, app: filepath.Join(dir, "app.yaml"), cfg: filepath.Join(dir, "cutover.yaml")}
	app := canaryApp + strings.ReplaceAll(cutoverRoute, "GATEWAY", b.gw.Name)
	cfg := strings.NewReplacer("PROMETHEUS", promURL, "QUERY", errorRatio(b.ns)).Replace(cutoverCanary)
	for path, content := range map[string]string{c.app: app, c.cfg: cfg} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := runCutover(ctx, bin, b.ns, "deploy", "-f", c.app, "--var", "TOMCAT_VERSION=7", "--var", "STATUS=200")
	if err != nil || r.code != 0 {
		t.Fatalf("cutover's first release of 7: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	untilAnswers(t, b.gw.URL+"/", "Apache Tomcat/7")
	return c
}

// release runs a canary of version; promotion completes when the Promote
// stage finishes (stable runs the release and the route sends it
// everything, confirmed by the route's status).
func (c *cutoverSide) release(ctx context.Context, version, status string) (time.Time, string, string) {
	r, err := runCutover(ctx, c.bin, c.ns, "deploy", "--config", c.cfg, "-f", c.app,
		"--var", "TOMCAT_VERSION="+version, "--var", "STATUS="+status, "--scale-down-delay", "1s", "--timeout", "3m", "-o", "json")
	printed := r.stdout + r.stderr
	switch {
	case err != nil:
		return time.Time{}, err.Error(), printed
	case r.code == 4:
		return time.Time{}, "rolled back", printed
	case r.code != 0:
		return time.Time{}, fmt.Sprintf("exit %d", r.code), printed
	}
	at, ok := eventAt(r.stdout, func(ev map[string]any) bool {
		return ev["type"] == "stage.finished" && ev["stageId"] == "promote" && ev["status"] == "succeeded"
	})
	if !ok {
		return time.Time{}, "exit 0 without a finished Promote stage", printed
	}
	return at, "promoted", printed
}

type cutoverRun struct {
	stdout, stderr string
	code           int
}

// runCutover runs the CLI against namespace ns; a non-zero exit is a code,
// not an error.
func runCutover(ctx context.Context, bin, ns string, args ...string) (cutoverRun, error) {
	cmd := exec.CommandContext(ctx, bin, append(args, "--kubeconfig", cluster.Kubeconfig, "-n", ns)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cutoverRun{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code, err = exit.ExitCode(), nil
	}
	if err != nil {
		return r, fmt.Errorf("cutover %s: %w", strings.Join(args, " "), err)
	}
	return r, nil
}

// eventAt is the time of the first JSON event of stdout that match picks.
func eventAt(stdout string, match func(map[string]any) bool) (time.Time, bool) {
	for line := range strings.Lines(stdout) {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil || !match(ev) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(ev["time"]))
		return at, err == nil
	}
	return time.Time{}, false
}

// flaggerSide is Flagger and its Canary in its namespace.
type flaggerSide struct {
	ns     string
	canary *objectLog
}

// setupFlagger starts Flagger, deploys version 7 with the Canary over it,
// and waits until Flagger has initialized it (primary, Services, route)
// and the gateway answers.
func setupFlagger(t *testing.T, dir string, b *canaryBed, promURL string) *flaggerSide {
	t.Helper()
	fl := newFlagger(t, dir, b.ns, promURL)
	f := &flaggerSide{ns: b.ns, canary: watchObject(t, b.dyn.Resource(canaries).Namespace(b.ns), "web")}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	app := strings.NewReplacer("${TOMCAT_VERSION}", "7", "${STATUS}", "200").Replace(canaryApp)
	if err := fl.apply(ctx, b.ns, app+"---\n"+canaryManifests(b.ns, b.gw.Name, promURL, errorRatio(b.ns))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.canary.wait(ctx, func() (time.Time, *unstructured.Unstructured, bool) {
		return f.canary.holdsFrom(time.Time{}, phase("Initialized"))
	}); err != nil {
		t.Fatalf("Flagger did not initialize canary web: %v (%s)", err, describeCanary(f.canary.last()))
	}
	untilAnswers(t, b.gw.URL+"/", "Apache Tomcat/7")
	return f
}

// release changes web's pod template, and waits until Flagger has
// started on it (Progressing) and finished (Succeeded or Failed).
func (f *flaggerSide) release(ctx context.Context, version, status string) (time.Time, string, string) {
	start := time.Now()
	if _, err := cluster.Client.AppsV1().Deployments(f.ns).Patch(ctx, "web", types.StrategicMergePatchType,
		releasePatch(version, status), metav1.PatchOptions{FieldManager: "bench"}); err != nil {
		return time.Time{}, fmt.Sprintf("patch web: %v", err), ""
	}
	began, _, err := f.canary.wait(ctx, func() (time.Time, *unstructured.Unstructured, bool) {
		return f.canary.seenAfter(start, phase("Progressing"))
	})
	if err != nil {
		return time.Time{}, fmt.Sprintf("never progressing: %v (%s)", err, describeCanary(f.canary.last())), ""
	}
	at, u, err := f.canary.wait(ctx, func() (time.Time, *unstructured.Unstructured, bool) {
		return f.canary.seenAfter(began, phase("Succeeded", "Failed"))
	})
	switch {
	case err != nil:
		return time.Time{}, fmt.Sprintf("never finished: %v (%s)", err, describeCanary(f.canary.last())), ""
	case phase("Failed")(u):
		return time.Time{}, "rolled back", ""
	}
	return at, "promoted", ""
}

// phase is a predicate on a Canary: its status.phase is one of these.
func phase(phases ...string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		for _, want := range phases {
			if p == want {
				return true
			}
		}
		return false
	}
}

// untilAnswers polls url until an answer holds want, for up to 30 s (a
// precondition, not a measurement).
func untilAnswers(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no answer from %s held %q within 30 s; the last: %s", url, want, last)
}

// objectLog keeps every version of one object that a watch delivered,
// with the time this process received it: both tools are timed by the
// same watches.
type objectLog struct {
	mu      sync.Mutex
	seen    []seenObject
	changed chan struct{} // closed and replaced at each delivery
}

type seenObject struct {
	at  time.Time
	obj *unstructured.Unstructured
}

// watchObject watches object name of r until the test ends, rewatching
// when the API server ends a watch.
func watchObject(t *testing.T, r dynamic.ResourceInterface, name string) *objectLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &objectLog{changed: make(chan struct{})}
	done := make(chan struct{})
	go func() { defer close(done); l.follow(ctx, r, name) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func (l *objectLog) follow(ctx context.Context, r dynamic.ResourceInterface, name string) {
	rv := ""
	for ctx.Err() == nil {
		w, err := r.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		rv = l.drain(w)
	}
}

// drain records the watch's objects until it ends, and returns the
// resource version to go on from ("" after an error: start afresh).
func (l *objectLog) drain(w watch.Interface) string {
	defer w.Stop()
	rv := ""
	for ev := range w.ResultChan() {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if ev.Type == watch.Error || !ok {
			return ""
		}
		rv = u.GetResourceVersion()
		if ev.Type == watch.Deleted {
			continue
		}
		l.mu.Lock()
		l.seen = append(l.seen, seenObject{at: time.Now(), obj: u})
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
	return rv
}

// holdsFrom is the first moment from since on at which pred holds of the
// object as last delivered: since itself if the version current then
// holds, else when the first later version that holds arrived.
func (l *objectLog) holdsFrom(since time.Time, pred func(*unstructured.Unstructured) bool) (time.Time, *unstructured.Unstructured, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	current := -1
	for i, s := range l.seen {
		if s.at.After(since) {
			break
		}
		current = i
	}
	if current >= 0 && pred(l.seen[current].obj) {
		return since, l.seen[current].obj, true
	}
	return l.firstAfter(since, pred)
}

// seenAfter is when the first version delivered after since for which
// pred holds arrived.
func (l *objectLog) seenAfter(since time.Time, pred func(*unstructured.Unstructured) bool) (time.Time, *unstructured.Unstructured, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstAfter(since, pred)
}

func (l *objectLog) firstAfter(since time.Time, pred func(*unstructured.Unstructured) bool) (time.Time, *unstructured.Unstructured, bool) {
	for _, s := range l.seen {
		if s.at.After(since) && pred(s.obj) {
			return s.at, s.obj, true
		}
	}
	return time.Time{}, nil, false
}

// wait calls find at each delivery until it finds, or ctx ends.
func (l *objectLog) wait(ctx context.Context, find func() (time.Time, *unstructured.Unstructured, bool)) (time.Time, *unstructured.Unstructured, error) {
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if at, u, ok := find(); ok {
			return at, u, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, nil, ctx.Err()
		case <-changed:
		}
	}
}

// last is the latest version delivered, nil if none.
func (l *objectLog) last() *unstructured.Unstructured {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return nil
	}
	return l.seen[len(l.seen)-1].obj
}

// weightOfCanary is the weight route u gives backendRef web-canary: 0
// without one, 1 when unset (the Gateway API's default).
func weightOfCanary(u *unstructured.Unstructured) int64 {
	var w int64
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		for _, x := range refs {
			ref, _ := x.(map[string]any)
			if ref["name"] != "web-canary" {
				continue
			}
			if n, ok := ref["weight"].(int64); ok {
				w += n
			} else {
				w++
			}
		}
	}
	return w
}

// canaryWeight is a predicate on a route: it gives web-canary w.
func canaryWeight(w int64) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool { return weightOfCanary(u) == w }
}

// accepted reports that every gateway in the route's status.parents has
// accepted its current generation.
func accepted(u *unstructured.Unstructured) bool {
	parents, _, _ := unstructured.NestedSlice(u.Object, "status", "parents")
	for _, p := range parents {
		conds, _, _ := unstructured.NestedSlice(p.(map[string]any), "conditions")
		ok := false
		for _, c := range conds {
			m, _ := c.(map[string]any)
			gen, _ := m["observedGeneration"].(int64)
			ok = ok || m["type"] == "Accepted" && m["status"] == "True" && gen == u.GetGeneration()
		}
		if !ok {
			return false
		}
	}
	return len(parents) > 0
}

// onStable is traffic confirmed back on stable: the route gives the
// canary nothing, and every gateway has accepted that.
func onStable(u *unstructured.Unstructured) bool {
	return weightOfCanary(u) == 0 && accepted(u)
}

func describeRoute(u *unstructured.Unstructured) string {
	if u == nil {
		return "no route seen"
	}
	return fmt.Sprintf("generation %d, web-canary weight %d, accepted %v", u.GetGeneration(), weightOfCanary(u), accepted(u))
}

// floor is the least time a rollback can take once the canary fails:
// Prometheus scrapes the failure, one query sees it, one route write
// takes the canary's weight away and the gateway confirms it.
type floor struct {
	scrape, query, write time.Duration
}

func (f floor) total() time.Duration { return f.scrape + f.query + f.write }

// measureFloor times, in b's namespace, the query both tools run (median
// of 5) and a route write until its status accepts its generation (median
// of 5, on a scratch route beside route web).
func measureFloor(t *testing.T, b *canaryBed, promURL string) floor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var queries, writes []time.Duration
	for range 5 {
		d, err := timeQuery(ctx, promURL, errorRatio(b.ns))
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, d)
	}
	scratch, err := newScratchRoute(ctx, b, watchObject(t, b.dyn.Resource(route.HTTPRoutes).Namespace(b.ns), "floor"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		d, err := scratch.write(ctx, int64(10*(i%2+1)))
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, d)
	}
	return floor{scrape: scrape, query: medianDuration(queries), write: medianDuration(writes)}
}

// timeQuery times one instant query of expr.
func timeQuery(ctx context.Context, promURL, expr string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, promURL+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("query prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("query prometheus: %d %s: %v", resp.StatusCode, body, err)
	}
	return d, nil
}

// scratchRoute is a route of b's gateway for path /floor only, with the
// same two backends as cutover's route web.
type scratchRoute struct {
	r   dynamic.ResourceInterface
	log *objectLog
}

// newScratchRoute creates it, log watching it, and waits until the
// gateway accepts it.
func newScratchRoute(ctx context.Context, b *canaryBed, log *objectLog) (*scratchRoute, error) {
	s := &scratchRoute{r: b.dyn.Resource(route.HTTPRoutes).Namespace(b.ns), log: log}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "floor"},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": b.gw.Name}},
			"rules":      scratchRules(0),
		},
	}}
	created, err := s.r.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create the scratch route: %w", err)
	}
	if _, _, err := s.log.wait(ctx, func() (time.Time, *unstructured.Unstructured, bool) {
		return s.log.holdsFrom(time.Now(), atGeneration(created.GetGeneration()))
	}); err != nil {
		return nil, fmt.Errorf("scratch route not accepted: %w", err)
	}
	return s, nil
}

func scratchRules(canary int64) []any {
	return []any{map[string]any{
		"matches": []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/floor"}}},
		"backendRefs": []any{
			map[string]any{"name": "web-stable", "port": int64(80), "weight": 100 - canary},
			map[string]any{"name": "web-canary", "port": int64(80), "weight": canary},
		},
	}}
}

// write sets the canary's weight and times it until the gateway accepts
// the new generation.
func (s *scratchRoute) write(ctx context.Context, canary int64) (time.Duration, error) {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"rules": scratchRules(canary)}})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	u, err := s.r.Patch(ctx, "floor", types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return 0, fmt.Errorf("write the scratch route: %w", err)
	}
	at, _, err := s.log.wait(ctx, func() (time.Time, *unstructured.Unstructured, bool) {
		return s.log.seenAfter(start, atGeneration(u.GetGeneration()))
	})
	if err != nil {
		return 0, fmt.Errorf("scratch route generation %d not accepted: %w", u.GetGeneration(), err)
	}
	return at.Sub(start), nil
}

func atGeneration(gen int64) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool { return u.GetGeneration() == gen && accepted(u) }
}

// printCanaryReport prints both tools' figures side by side, the ratios,
// the goals (printed, not asserted: speed is reported, not tested) and
// the floor.
func printCanaryReport(c, f figures, fl floor) {
	fmt.Printf("\n(c) canary through Traefik: steps 10%% and 50%%, each held %s; rolled back at an error ratio >= 1%% (one query, Prometheus scraping every %s); users %d/s through each gateway\n",
		stepHold, scrape, usersRate)
	fmt.Printf("  %-48s %12s %12s %9s\n", "", c.tool, f.tool, "ratio")
	fmt.Println("  good release (7 -> 8)")
	row("start -> promotion complete (as the tool says)", secs(c.promote), secs(f.promote), ratio(c.promote, f.promote), goal(c.promote, f.promote, 1))
	row("start -> last request answered by 7", secs(c.lastOld), secs(f.lastOld), ratio(c.lastOld, f.lastOld), "")
	row("10% held (route watch)", secs(c.hold), secs(f.hold), "", "")
	row("failed requests", fmt.Sprintf("%d of %d", c.goodFailed, c.goodTotal), fmt.Sprintf("%d of %d", f.goodFailed, f.goodTotal), "", "")
	fmt.Println("  bad release (9, answering 500)")
	row("failed requests", fmt.Sprintf("%d of %d", c.badFailed, c.badTotal), fmt.Sprintf("%d of %d", f.badFailed, f.badTotal),
		fmt.Sprintf("%.2f", float64(c.badFailed)/float64(max(f.badFailed, 1))), goalN(c.badFailed, f.badFailed, 0.5))
	row("first failure -> route confirmed on stable", secs(c.window), secs(f.window), ratio(c.window, f.window), goal(c.window, f.window, 0.5))
	row("last failure sent, from the confirmation", signedMs(c.lastFailure), signedMs(f.lastFailure), "", "")
	fmt.Printf("  floor = %s + query %s + route write %s = %s (cutover %.1fx it, Flagger %.1fx)\n",
		fl.scrape, ms(fl.query), ms(fl.write), ms(fl.total()), c.window.Seconds()/fl.total().Seconds(), f.window.Seconds()/fl.total().Seconds())
}

func row(what, c, f, r, g string) {
	fmt.Printf("    %-46s %12s %12s %9s  %s\n", what, c, f, r, g)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func signedMs(d time.Duration) string {
	return fmt.Sprintf("%+dms", d.Round(time.Millisecond).Milliseconds())
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds()) }

func ratio(c, f time.Duration) string {
	if f <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", c.Seconds()/f.Seconds())
}

// goal says whether c <= limit x f, the goal of issue 15.
func goal(c, f time.Duration, limit float64) string {
	return goalMet(c.Seconds() <= limit*f.Seconds() && c > 0, limit)
}

func goalN(c, f int, limit float64) string {
	return goalMet(float64(c) <= limit*float64(f), limit)
}

func goalMet(met bool, limit float64) string {
	if met {
		return fmt.Sprintf("goal <= %gx: met", limit)
	}
	return fmt.Sprintf("goal <= %gx: NOT met", limit)
}
