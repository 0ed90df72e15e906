package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/route"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// gatewayApp is an app whose pods answer the test bed's gateway on their
// own IPs (tomcat:${TOMCAT_VERSION}, answering ${STATUS}, 200 unless set),
// a Service web, and an HTTPRoute web that sends everything to it through
// the test bed's Gateway gw.
func gatewayApp(gw string) string {
	return `apiVersion: apps/v1
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
      # Terminating for its grace period, as a kubelet keeps it until its
      # app exits: kwok hands a gone pod's IP to the next pod at once.
      annotations: {testbed.cutover.dev/http-status: "${STATUS}", testbed.cutover.dev/terminate-after: 5s}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: tomcat:${TOMCAT_VERSION}
        ports:
        - containerPort: 8080
        lifecycle: {preStop: {sleep: {seconds: 2}}}
---
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
  parentRefs: [{name: ` + gw + `}]
  rules:
  - backendRefs: [{name: web, port: 80}]
`
}

// explicitApp is the app as Argo Rollouts' and Flagger's users write it:
// its Deployment, a stable Service web-primary and a canary Service
// web-canary (both selecting its pods), and an HTTPRoute web that names
// both, all to web-primary.
func explicitApp(gw string) string {
	app := strings.SplitN(gatewayApp(gw), "---", 2)[0]
	for _, name := range []string{"web-primary", "web-canary"} {
		app += "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n"
	}
	return app + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: ` + gw + `}]
  rules:
  - backendRefs: [{name: web-primary, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}]
`
}

// TestCanaryGatewayExplicitServices: the user names the route's two
// Services of the files (explicit mode). cutover derives none: it adds
// cutover.dev/track to their selectors, so web-canary routes to the
// canary's pods alone and web-primary to stable's, and sets the route's
// weights on them; promoted, stable runs the release and the route sends
// it everything. Users through Traefik meet no failure.
func TestCanaryGatewayExplicitServices(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	gw := cluster.RequireGateway(t, ns)
	cluster.RequireReachablePods(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dp, err := dataplane.Start(ctx, dataplane.Options{Config: cluster.Config, Namespace: ns, PodAddresses: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Close)
	file := writeFile(t, "app.yaml", explicitApp(gw.Name))
	if r := cutover(t, ns, "", "deploy", "-f", file, "--var", "TOMCAT_VERSION=7", "--var", "STATUS=200"); r.code != exitOK {
		t.Fatalf("rolling deploy of 7: exit %d", r.code)
	}
	untilAnswers(t, gw.URL+"/", "Apache Tomcat/7")
	b := &gatewayBed{ns: ns, file: file, gw: gw}
	if b.dyn, err = dynamic.NewForConfig(cluster.Config); err != nil {
		t.Fatal(err)
	}
	pair := route.Backends{Stable: "web-primary", Canary: "web-canary"}
	stop := b.load(50, nil)
	explicit := []string{"--route", "web", "--stable-service", "web-primary", "--canary-service", "web-canary", "--var", "STATUS=200"}
	done := make(chan result, 1)
	go func() { done <- canaryDeploy(t, ns, file, "8", append(explicit, "--steps", "50,pause")...) }()
	waitPaused(t, ns, 2, done)
	canary, stable := readyPods(t, ns, "app=web,cutover.dev/track=canary"), readyPods(t, ns, "app=web,cutover.dev/track=stable")
	if got := serviceEndpoints(t, ns, "web-canary"); len(canary) != 1 || !slices.Equal(got, canary) {
		t.Errorf("web-canary routes to %v, want the canary's one pod %v", got, canary)
	}
	if got := serviceEndpoints(t, ns, "web-primary"); len(stable) != 2 || !slices.Equal(got, stable) {
		t.Errorf("web-primary routes to %v, want stable's two pods %v", got, stable)
	}
	assertRouteOf(t, b, pair, 50)
	untilAnswers(t, gw.URL+"/", "Apache Tomcat/8")
	svcs, err := cluster.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range svcs.Items {
		names = append(names, s.Name)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"web-canary", "web-primary"}) {
		t.Errorf("the namespace's Services are %v, want the user's two: explicit mode derives none", names)
	}
	if r := cutover(t, ns, "", "promote", "web"); r.code != exitOK {
		t.Fatalf("promote: exit %d", r.code)
	}
	if r := <-done; r.code != exitOK {
		t.Fatalf("the promoted canary: exit %d", r.code)
	}
	assertRouteOf(t, b, pair, 0)
	if d := getDeployment(t, ns, "web"); d.Spec.Template.Spec.Containers[0].Image != "tomcat:8" {
		t.Errorf("stable runs %s, want tomcat:8", d.Spec.Template.Spec.Containers[0].Image)
	}
	res := stop()
	t.Logf("users through Traefik: %s", res)
	if res.Failures > 0 || res.Versions["Tomcat/8"] == 0 {
		t.Errorf("users met %d failures of %d (%v), want none, with answers from 8: %q", res.Failures, res.Total, res.Versions, res.FailureDetails)
	}
}

// gatewayBed is a namespace with the test bed's Traefik in front of pods
// that answer on their own IPs, and the app's first release (version 7,
// by a rolling update) behind route web.
type gatewayBed struct {
	ns, file string
	gw       *testbed.Gateway
	dyn      dynamic.Interface
}

func newGatewayBed(t *testing.T) *gatewayBed {
	t.Helper()
	b := &gatewayBed{ns: cluster.Namespace(t)}
	b.gw = cluster.RequireGateway(t, b.ns)
	cluster.RequireReachablePods(t)
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
	b.file = writeFile(t, "app.yaml", gatewayApp(b.gw.Name))
	if r := cutover(t, b.ns, "", "deploy", "-f", b.file, "--var", "TOMCAT_VERSION=7", "--var", "STATUS=200"); r.code != exitOK {
		t.Fatalf("rolling deploy of 7: exit %d", r.code)
	}
	untilAnswers(t, b.gw.URL+"/", "Apache Tomcat/7")
	return b
}

// canary runs a canary of version through the route, answering status.
func (b *gatewayBed) canary(t *testing.T, version, status string, extra ...string) result {
	return canaryDeploy(t, b.ns, b.file, version, append([]string{"--route", "web", "--var", "STATUS=" + status}, extra...)...)
}

// load sends users' requests through the gateway, each on a new
// connection, until the returned function is called, which returns what
// they met; record, if set, gets every request's outcome.
func (b *gatewayBed) load(rate int, record func(dataplane.Outcome)) func() *dataplane.LoadResult {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *dataplane.LoadResult, 1)
	go func() {
		done <- dataplane.Load(ctx, dataplane.LoadOptions{URL: b.gw.URL + "/", Rate: rate, Record: record})
	}()
	return func() *dataplane.LoadResult { cancel(); return <-done }
}

// TestCanaryGatewayAdoptsPromotesAndAborts runs canaries through the test
// bed's Traefik, with users' requests flowing through it the whole time.
// An app deployed by a rolling update, its route sending to Service web,
// is adopted by its first canary through the gateway: stable's pods get
// cutover.dev/track=stable before the route sends to web-stable. Paused at
// 50%, the route splits 50/50, accepted by Traefik and run by it;
// promoted, stable runs the release and the route sends everything to
// web-stable. The next canary, aborted at its pause, puts the route back
// to 100/0 and exits 4; the one after, its run killed at the pause, is
// aborted by cutover abort itself. No request fails.
func TestCanaryGatewayAdoptsPromotesAndAborts(t *testing.T) {
	t.Parallel()
	b := newGatewayBed(t)
	stop := b.load(50, nil)
	done := make(chan result, 1)
	go func() { done <- b.canary(t, "8", "200", "--steps", "10,50,pause", "-o", "json") }()
	waitPaused(t, b.ns, 2, done)
	stable, labelled := readyPods(t, b.ns, "app=web,cutover.dev/track!=canary"), readyPods(t, b.ns, "app=web,cutover.dev/track=stable")
	if len(stable) != 2 || !slices.Equal(stable, labelled) {
		t.Errorf("stable's ready pods %v, those labelled cutover.dev/track=stable %v: want the same two", stable, labelled)
	}
	assertRoute(t, b, 50)
	untilAnswers(t, b.gw.URL+"/", "Apache Tomcat/8")
	if r := cutover(t, b.ns, "", "promote", "web"); r.code != exitOK {
		t.Fatalf("promote: exit %d", r.code)
	}
	r := <-done
	if r.code != exitOK {
		t.Fatalf("the promoted canary: exit %d", r.code)
	}
	if !strings.Contains(r.stdout, "first canary through a gateway") {
		t.Error("the run did not say it adopted stable's pods")
	}
	if got, want := trafficEvents(t, r.stdout), []string{"set 10", "set 50", "stable 0"}; !slices.Equal(got, want) {
		t.Errorf("traffic events %q, want %q", got, want)
	}
	assertRoute(t, b, 0)
	assertOnStable(t, b.ns, "tomcat:8")

	go func() { done <- b.canary(t, "9", "200", "--steps", "50,pause", "-o", "json") }()
	waitPaused(t, b.ns, 3, done)
	assertRoute(t, b, 50)
	untilAnswers(t, b.gw.URL+"/", "Apache Tomcat/9")
	if a := cutover(t, b.ns, "", "abort", "web"); a.code != exitOK {
		t.Fatalf("abort: exit %d", a.code)
	}
	r = <-done
	if r.code != exitRolledBack {
		t.Fatalf("the aborted canary: exit %d, want 4", r.code)
	}
	// Its pods serve on for the abort's scale-down delay after the route
	// is confirmed, while Traefik may still send them requests.
	if kept := eventTime(t, r.stdout, "object.applied", "", "scaled to 0").Sub(eventTime(t, r.stdout, "traffic", "stable")); kept < strategy.DefaultAbortScaleDownDelay {
		t.Errorf("the canary was scaled down %s after the abort's route was confirmed, want at least %s", kept, strategy.DefaultAbortScaleDownDelay)
	}
	assertRoute(t, b, 0)
	assertOnStable(t, b.ns, "tomcat:8")
	if rec := latestOf(t, b.ns, "web"); rec.Outcome != release.OutcomeRolledBack {
		t.Errorf("record outcome %s, want rolled-back", rec.Outcome)
	}

	// A run killed at its pause leaves the route at 50/50: cutover abort
	// finds it gone and puts the route back itself.
	killAt(t, "Step 2/2: pause until promoted", "deploy", "--strategy", "canary", "-f", b.file, "--route", "web",
		"--var", "TOMCAT_VERSION=10", "--var", "STATUS=200", "--steps", "50,pause", "-o", "json", "--kubeconfig", cluster.Kubeconfig, "-n", b.ns)
	assertRoute(t, b, 50)
	if a := cutover(t, b.ns, "", "abort", "web", "--timeout", "1m"); a.code != exitOK || !strings.Contains(a.stderr, "run is gone") {
		t.Fatalf("abort of a dead run: exit %d, want 0 saying it aborted the canary itself", a.code)
	}
	assertRoute(t, b, 0)
	assertOnStable(t, b.ns, "tomcat:8")
	res := stop()
	t.Logf("users through Traefik: %s", res)
	if res.Failures > 0 || res.Versions["Tomcat/8"] == 0 || res.Versions["Tomcat/9"] == 0 {
		t.Errorf("users met %d failures of %d (%v), want none, with answers from 8 and 9: %q", res.Failures, res.Total, res.Versions, res.FailureDetails)
	}
}

// TestCanaryGatewayBadCanaryAbortedByPrometheus: a canary whose pods answer
// 500 (their health passing) gets 20% of the users through Traefik; a
// Prometheus analysis of Traefik's own metrics (scraped every second) sees
// the canary's error share and aborts: the route goes back to 100/0, exit
// 4. The users' failed requests are the canary's answers before the abort:
// about its share of the requests sent meanwhile (bounded at twice that),
// none sent later than Traefik takes to run the confirmed route (bounded
// at 1 s; 6 to 119 ms measured). The figures are logged.
func TestCanaryGatewayBadCanaryAbortedByPrometheus(t *testing.T) {
	t.Parallel()
	b := newGatewayBed(t)
	prom := testbed.RequirePrometheus(t, testbed.PrometheusOptions{Targets: []string{b.gw.MetricsAddr}})
	cfg := writeFile(t, "cutover.yaml", `strategy: canary
canary:
  httpRoute: web
  steps:
    - setWeight: 20
    - analysis: canary errors
    - pause: {}
checks:
  - name: canary errors
    analysis:
      metrics:
        - name: error-share
          prometheus:
            address: `+prom.URL+`
            query: 'sum(rate(traefik_service_requests_total{service=~".*-svc-{{.Namespace}}-{{.CanaryService}}-.*",code=~"5.."}[5s])) / sum(rate(traefik_service_requests_total{service=~".*-svc-{{.Namespace}}-{{.CanaryService}}-.*"}[5s]))'
          interval: 1s
          count: 20
          successCondition: size(result) == 1 && result[0] < 0.01
          failureCondition: size(result) == 1 && result[0] > 0.1
          inconclusiveLimit: 20
`)
	var mu sync.Mutex
	var sent []dataplane.Outcome
	stop := b.load(50, func(o dataplane.Outcome) { mu.Lock(); sent = append(sent, o); mu.Unlock() })
	r := cutover(t, b.ns, "", "deploy", "--config", cfg, "-f", b.file, "--var", "TOMCAT_VERSION=8", "--var", "STATUS=500",
		"--scale-down-delay", "1s", "--timeout", "2m", "-o", "json")
	res := stop()
	if r.code != exitRolledBack || !strings.Contains(r.stderr, "error-share") {
		t.Fatalf("the bad canary: exit %d, want 4 naming the failed metric", r.code)
	}
	assertRoute(t, b, 0)
	assertOnStable(t, b.ns, "tomcat:7")
	if res.Failures == 0 || res.Versions["Tomcat/8"] > 0 {
		t.Errorf("users met %d failures and %d answers from 8: want the canary's 500s and no 8 that answered well", res.Failures, res.Versions["Tomcat/8"])
	}
	confirmed := eventTime(t, r.stdout, "traffic", "stable")
	mu.Lock()
	defer mu.Unlock()
	var first, last time.Time
	for _, o := range sent {
		if o.Status >= 500 {
			first, last = earlier(first, o.Time), later(last, o.Time)
		}
	}
	inWindow, failed := 0, 0
	for _, o := range sent {
		if !o.Time.Before(first) && !o.Time.After(confirmed) {
			inWindow++
			if o.Status >= 500 {
				failed++
			}
		}
	}
	t.Logf("users through Traefik: %s; from the first failure to the confirmed abort (%s): %d of %d requests failed (%.0f%%, the canary's weight 20%%); the last failure was sent %s after the confirmation",
		res, confirmed.Sub(first).Round(time.Millisecond), failed, inWindow, 100*float64(failed)/float64(max(inWindow, 1)), last.Sub(confirmed).Round(time.Millisecond))
	if float64(failed) > 0.4*float64(inWindow) {
		t.Errorf("%d of %d requests failed while the canary had 20%%: more than twice its share", failed, inWindow)
	}
	if last.Sub(confirmed) > time.Second {
		t.Errorf("a request sent %s after the abort was confirmed still failed: Traefik takes well under a second", last.Sub(confirmed))
	}
}

// TestCanaryGatewayPrometheusStoppedMidAnalysis: a good canary through
// Traefik whose Prometheus analysis passes measurements until Prometheus
// stops: the provider cannot be reached, the analysis cannot judge, and
// the canary never promotes on it. It pauses for a person (the record
// pending) at its weight, stable untouched, until cutover abort puts the
// route back to 100/0. Users meet no failure throughout.
func TestCanaryGatewayPrometheusStoppedMidAnalysis(t *testing.T) {
	t.Parallel()
	b := newGatewayBed(t)
	prom := testbed.RequirePrometheus(t, testbed.PrometheusOptions{Targets: []string{b.gw.MetricsAddr}})
	cfg := writeFile(t, "cutover.yaml", `strategy: canary
canary:
  httpRoute: web
  steps:
    - setWeight: 30
    - analysis: canary errors
checks:
  - name: canary errors
    analysis:
      metrics:
        - name: error-share
          prometheus:
            address: `+prom.URL+`
            query: 'sum(rate(traefik_service_requests_total{service=~".*-svc-{{.Namespace}}-{{.CanaryService}}-.*",code=~"5.."}[5s]) or vector(0)) / sum(rate(traefik_service_requests_total{service=~".*-svc-{{.Namespace}}-{{.CanaryService}}-.*"}[5s]))'
          interval: 1s
          count: 30
          consecutiveErrorLimit: 2
          inconclusiveLimit: 30
          successCondition: size(result) == 1 && result[0] < 0.01
          failureCondition: size(result) == 1 && result[0] > 0.1
`)
	stop := b.load(50, nil)
	done := make(chan result, 1)
	passed := make(chan struct{})
	var once sync.Once
	onLine := func(line string) { // Prometheus stops once a measurement passed
		if strings.Contains(line, `"type":"analysis"`) && strings.Contains(line, `"status":"successful"`) {
			once.Do(func() { close(passed) })
		}
	}
	go func() {
		done <- cutoverLive(t, b.ns, "", onLine, "deploy", "--config", cfg, "-f", b.file, "--var", "TOMCAT_VERSION=8", "--var", "STATUS=200",
			"--scale-down-delay", "1s", "-o", "json")
	}()
	select {
	case <-passed:
	case r := <-done:
		t.Fatalf("the canary ended (exit %d) before a measurement passed", r.code)
	case <-time.After(time.Minute):
		t.Fatal("no measurement passed within a minute")
	}
	if err := prom.Stop(); err != nil {
		t.Fatal(err)
	}
	waitPaused(t, b.ns, 2, done)
	assertRoute(t, b, 30)
	if d := getDeployment(t, b.ns, "web"); d.Spec.Template.Spec.Containers[0].Image != "tomcat:7" {
		t.Errorf("paused on an analysis that cannot judge: stable runs %s, want tomcat:7", d.Spec.Template.Spec.Containers[0].Image)
	}
	if a := cutover(t, b.ns, "", "abort", "web"); a.code != exitOK {
		t.Fatalf("abort: exit %d", a.code)
	}
	r := <-done
	if r.code != exitRolledBack {
		t.Fatalf("the canary: exit %d, want 4 (aborted)", r.code)
	}
	phases := map[string]int{}
	for _, ev := range jsonEvents(t, r.stdout) {
		if ev["type"] == "analysis" && ev["object"] == "metric error-share" {
			phases[fmt.Sprint(ev["status"])]++
		}
	}
	if phases["successful"] == 0 || phases["error"] == 0 || phases["failed"] > 0 {
		t.Errorf("measurements %v: want successful ones, then errors once Prometheus stopped, and none failed", phases)
	}
	assertRoute(t, b, 0)
	assertOnStable(t, b.ns, "tomcat:7")
	if res := stop(); res.Failures > 0 {
		t.Errorf("users met %d failures of %d: %q", res.Failures, res.Total, res.FailureDetails)
	}
}

// TestCanaryGatewayHeaderReachesTheCanaryFirst: with --canary-header, a
// canary paused at weight 0 already answers requests that carry the
// header, through Traefik, while users (without it) reach stable only;
// once promoted, the route is back to its one rule, 100/0.
func TestCanaryGatewayHeaderReachesTheCanaryFirst(t *testing.T) {
	t.Parallel()
	b := newGatewayBed(t)
	stop := b.load(50, nil)
	done := make(chan result, 1)
	go func() { done <- b.canary(t, "8", "200", "--canary-header", "X-Canary=always", "--steps", "pause,50") }()
	waitPaused(t, b.ns, 2, done)
	untilAnswersWith(t, b.gw.URL+"/", "X-Canary", "always", "Apache Tomcat/8")
	res := stop()
	if res.Failures > 0 || res.Versions["Tomcat/8"] > 0 {
		t.Errorf("users without the header met %d failures and %d answers from the canary, want none: %v", res.Failures, res.Versions["Tomcat/8"], res.Versions)
	}
	if r := cutover(t, b.ns, "", "promote", "web"); r.code != exitOK {
		t.Fatalf("promote: exit %d", r.code)
	}
	if r := <-done; r.code != exitOK {
		t.Fatalf("the promoted canary: exit %d", r.code)
	}
	assertRoute(t, b, 0)
	u, err := b.dyn.Resource(route.HTTPRoutes).Namespace(b.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules"); len(rules) != 1 {
		t.Errorf("after promotion the route has %d rules, want its one rule without the header's", len(rules))
	}
	assertOnStable(t, b.ns, "tomcat:8")
}

// untilAnswersWith is untilAnswers with a request header.
func untilAnswersWith(t *testing.T, url, header, value, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set(header, value)
		resp, err := http.DefaultClient.Do(req)
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
	t.Fatalf("no answer to %s: %s held %q within 20 s; the last: %s", header, value, want, last)
}

// eventTime is the time of the first event of a JSON run with type typ
// and status, and action if given.
func eventTime(t *testing.T, stdout, typ, status string, action ...string) time.Time {
	t.Helper()
	for _, ev := range jsonEvents(t, stdout) {
		if st, _ := ev["status"].(string); ev["type"] == typ && st == status && (len(action) == 0 || ev["action"] == action[0]) {
			at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(ev["time"]))
			if err != nil {
				t.Fatal(err)
			}
			return at
		}
	}
	t.Fatalf("no %s event with status %q %v", typ, status, action)
	return time.Time{}
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// trafficEvents are the traffic events of a JSON run: status and weight.
func trafficEvents(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	for _, ev := range jsonEvents(t, stdout) {
		if ev["type"] == "traffic" {
			w, _ := ev["weight"].(map[string]any)
			out = append(out, fmt.Sprintf("%v %v", ev["status"], w["asked"]))
		}
	}
	return out
}

// assertRoute checks that route web sends canary% to web-canary and the
// rest to web-stable, that Traefik accepted it, and that Traefik runs
// those weights.
func assertRoute(t *testing.T, b *gatewayBed, canary int) {
	t.Helper()
	assertRouteOf(t, b, route.Backends{Service: "web", Stable: "web-stable", Canary: "web-canary"}, canary)
}

// assertRouteOf checks route web's weights between pair's Services, its
// status, and that Traefik runs them.
func assertRouteOf(t *testing.T, b *gatewayBed, pair route.Backends, canary int) {
	t.Helper()
	u, err := b.dyn.Resource(route.HTTPRoutes).Namespace(b.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, c, ok := route.Weights(u, pair); !ok || s != 100-canary || c != canary {
		t.Errorf("route web weighs %s %d and %s %d (%v), want %d and %d", pair.Stable, s, pair.Canary, c, ok, 100-canary, canary)
	}
	if a := route.Accepted(u, u.GetGeneration()); !a.Accepted {
		t.Errorf("route web generation %d is not accepted: %s", u.GetGeneration(), a.Reason)
	}
	// Traefik reports on a route when it computes its configuration, and
	// runs it a moment later (its providersThrottleDuration, 0 s on the
	// test bed): the figure is logged.
	accepted := time.Now()
	for {
		got := traefikWeightsOf(t, b.gw, pair.Stable, pair.Canary)
		if got[pair.Stable] == 100-canary && got[pair.Canary] == canary {
			t.Logf("Traefik ran %d/%d %s after the route's status accepted it", 100-canary, canary, time.Since(accepted).Round(time.Millisecond))
			return
		}
		if time.Since(accepted) > 5*time.Second {
			t.Fatalf("5 s after the route's status accepted it, Traefik runs weights %v, want %s %d, %s %d", got, pair.Stable, 100-canary, pair.Canary, canary)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// traefikWeights reads the weights Traefik runs for web-stable and
// web-canary.
func traefikWeights(t *testing.T, gw *testbed.Gateway) map[string]int {
	t.Helper()
	return traefikWeightsOf(t, gw, "web-stable", "web-canary")
}

// traefikWeightsOf reads the weights Traefik runs: the children of its
// weighted services, by the Service of names their name holds.
func traefikWeightsOf(t *testing.T, gw *testbed.Gateway, names ...string) map[string]int {
	t.Helper()
	weights, err := gw.Weights(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for child, w := range weights {
		for _, name := range names {
			if strings.Contains(child, name) {
				out[name] = w
			}
		}
	}
	return out
}

// untilAnswers sends requests to url until an answer holds want, for up to
// 20 s.
func untilAnswers(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for {
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
		if time.Now().After(deadline) {
			t.Fatalf("no answer from %s held %q within 20 s; the last: %s", url, want, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
