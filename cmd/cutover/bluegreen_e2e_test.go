package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/readiness"
)

// blueGreen deploys the article's manifests, unchanged but for apps/v1.
func blueGreen(t *testing.T, ns, version string, extra ...string) result {
	t.Helper()
	args := append([]string{"deploy", "--strategy", "blue-green", "-f", "../../examples/blue-green/", "--service", "tomcat-service",
		"--var", "TOMCAT_VERSION=" + version, "-o", "json"}, extra...)
	return cutover(t, ns, "", args...)
}

func prodColor(t *testing.T, ns string) string {
	t.Helper()
	svc, err := cluster.Client.CoreV1().Services(ns).Get(context.Background(), "tomcat-service", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Selector["role"]
}

// prodEndpoints returns the pod names behind the production Service's ready
// endpoints.
func prodEndpoints(t *testing.T, ns string) []string {
	t.Helper()
	return serviceEndpoints(t, ns, "tomcat-service")
}

// serviceEndpoints returns the pod names behind a Service's ready endpoints.
func serviceEndpoints(t *testing.T, ns, service string) []string {
	t.Helper()
	list, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready && e.TargetRef != nil {
				out = append(out, e.TargetRef.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// assertProduction checks that production selects color, whose Deployment
// runs image with both replicas ready, and that its endpoints are exactly
// that color's pods.
func assertProduction(t *testing.T, ns, color, image string) {
	t.Helper()
	if got := prodColor(t, ns); got != color {
		t.Fatalf("production selects %q, want %q", got, color)
	}
	d := getDeployment(t, ns, "tomcat-deployment-"+color)
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("%s runs %s, want %s", d.Name, got, image)
	}
	// The pods, not the Deployment's status: cutover judges the color from
	// its pods, and the status may still be a controller hop behind.
	pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "role=" + color})
	if err != nil {
		t.Fatal(err)
	}
	var running []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		running = append(running, p.Name)
		if img := p.Spec.Containers[0].Image; img != image || !readiness.PodReady(&p) {
			t.Errorf("%s pod %s: image %s, ready %v; want %s, ready", color, p.Name, img, readiness.PodReady(&p), image)
		}
	}
	if len(running) != 2 {
		t.Errorf("%s runs pods %v, want 2", color, running)
	}
	eps := prodEndpoints(t, ns)
	if len(eps) != 2 {
		t.Fatalf("production has %d ready endpoints %v, want 2", len(eps), eps)
	}
	for _, p := range eps {
		if !strings.HasPrefix(p, "tomcat-deployment-"+color+"-") {
			t.Errorf("production endpoint %s is not a %s pod", p, color)
		}
	}
}

func TestBlueGreenFirstDeployThenSwitchAndBack(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	assertProduction(t, ns, "blue", "tomcat:7")

	r := blueGreen(t, ns, "8")
	if r.code != exitOK {
		t.Fatalf("blue to green exited %d", r.code)
	}
	assertProduction(t, ns, "green", "tomcat:8")
	// keep (the default): blue still runs 7 as a hot backup.
	if img := getDeployment(t, ns, "tomcat-deployment-blue").Spec.Template.Spec.Containers[0].Image; img != "tomcat:7" {
		t.Errorf("idle blue runs %s, want tomcat:7 kept", img)
	}
	var stages []string
	for _, ev := range jsonEvents(t, r.stdout) {
		if ev["type"] == "stage.finished" {
			stages = append(stages, fmt.Sprint(ev["stage"]))
		}
	}
	want := []string{"Check Env", "Deploy", "Verify Staged", "Confirm", "Switch", "Verify Prod", "Post"}
	if !slices.Equal(stages, want) {
		t.Errorf("stages %v, want %v", stages, want)
	}

	if r := blueGreen(t, ns, "9"); r.code != exitOK {
		t.Fatalf("green to blue exited %d", r.code)
	}
	assertProduction(t, ns, "blue", "tomcat:9")
}

// colorServer answers checks per color: /{color} paths fail for the colors
// in bad.
func colorServer(t *testing.T, bad ...string) *httptest.Server {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if slices.Contains(bad, strings.Trim(r.URL.Path, "/")) {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "Apache Tomcat/8")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBlueGreenVerifyStagedFailureLeavesProductionUntouched(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	before := prodEndpoints(t, ns)
	srv := colorServer(t, "green")
	r := blueGreen(t, ns, "8", "--verify-url", srv.URL+"/{color}", "--verify-attempts", "2", "--verify-interval", "20ms")
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d", r.code, exitFailed)
	}
	if !strings.Contains(r.stderr, "production untouched") {
		t.Errorf("error should say production is untouched: %s", r.stderr)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	if after := prodEndpoints(t, ns); !slices.Equal(before, after) {
		t.Errorf("production endpoints changed: %v -> %v", before, after)
	}
}

func TestBlueGreenVerifyProdFailureSwitchesBack(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	// The check passes through green's test endpoint, then fails on
	// production: the server breaks once production has switched.
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls > 1 {
			http.Error(w, "prod broken", http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	r := blueGreen(t, ns, "8", "--verify-url", srv.URL+"/{color}", "--verify-attempts", "2", "--verify-interval", "20ms")
	if r.code != exitRolledBack {
		t.Fatalf("exit %d, want %d (switched back)", r.code, exitRolledBack)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
}

func TestBlueGreenIdlePolicies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy       string
		wantReplicas int32
		wantImage    string
	}{
		{"scale-down", 0, "tomcat:7"},
		{"update", 2, "tomcat:8"},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			if r := blueGreen(t, ns, "7"); r.code != exitOK {
				t.Fatalf("first deploy exited %d", r.code)
			}
			if r := blueGreen(t, ns, "8", "--idle-policy", tc.policy, "--scale-down-delay", "100ms"); r.code != exitOK {
				t.Fatalf("exit %d", r.code)
			}
			assertProduction(t, ns, "green", "tomcat:8")
			blue := getDeployment(t, ns, "tomcat-deployment-blue")
			if *blue.Spec.Replicas != tc.wantReplicas || blue.Spec.Template.Spec.Containers[0].Image != tc.wantImage {
				t.Errorf("idle blue: %d replicas of %s, want %d of %s", *blue.Spec.Replicas,
					blue.Spec.Template.Spec.Containers[0].Image, tc.wantReplicas, tc.wantImage)
			}
			// The next release deploys to blue again without a field conflict.
			if r := blueGreen(t, ns, "9"); r.code != exitOK {
				t.Fatalf("next release exited %d", r.code)
			}
			assertProduction(t, ns, "blue", "tomcat:9")
		})
	}
}

func TestBlueGreenBadProductionSelector(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	patch := []byte(`{"spec":{"selector":{"role":"purple"}}}`)
	if _, err := cluster.Client.CoreV1().Services(ns).Patch(context.Background(), "tomcat-service", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ns)
	// A snapshot cannot see a Lease created and deleted again: watch.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leases, err := cluster.Client.CoordinationV1().Leases(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := blueGreen(t, ns, "8")
	if r.code != exitBadInput || !strings.Contains(r.stderr, `role="purple"`) {
		t.Fatalf("exit %d, stderr %s; want bad input naming the unknown color", r.code, r.stderr)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("namespace changed: %v -> %v", before, after)
	}
	// The lock is taken after Check Env passed, never for a refusal. A
	// write would have been delivered long before this marker write.
	marker, err := cluster.Client.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "marker"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for ev := range leases.ResultChan() {
		if l, ok := ev.Object.(*coordinationv1.Lease); ok && l.Name == marker.Name {
			break
		}
		t.Errorf("the refused run wrote a Lease: %s %v", ev.Type, ev.Object)
	}
	var stages []string
	for _, ev := range jsonEvents(t, r.stdout) {
		if ev["type"] == "stage.finished" {
			stages = append(stages, fmt.Sprint(ev["stage"], " ", ev["status"]))
		}
	}
	if !slices.Equal(stages, []string{"Check Env failed"}) {
		t.Errorf("stages %v, want Check Env failed", stages)
	}
}

func TestBlueGreenDryRun(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	first := cutover(t, ns, "", "deploy", "--strategy", "blue-green", "-f", "../../examples/blue-green/", "--service", "tomcat-service",
		"--var", "TOMCAT_VERSION=7", "--dry-run")
	if first.code != exitOK || !strings.Contains(first.stdout, "Service/"+ns+"/tomcat-service: would be created") {
		t.Fatalf("first deploy dry run: exit %d\n%s", first.code, first.stdout)
	}
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	before := snapshot(t, ns)
	r := blueGreen(t, ns, "8", "--dry-run")
	if r.code != exitOK {
		t.Fatalf("dry run exited %d", r.code)
	}
	var planned []string
	for _, ev := range jsonEvents(t, r.stdout) {
		if ev["type"] == "object.planned" {
			planned = append(planned, fmt.Sprint(ev["object"], " ", ev["action"]))
		}
	}
	want := []string{"Deployment/" + ns + "/tomcat-deployment-green created",
		"Service/" + ns + "/tomcat-service would switch role from blue to green", "Service/" + ns + "/tomcat-test-green created"}
	slices.Sort(planned)
	if !slices.Equal(planned, want) {
		t.Errorf("planned %q, want %q", planned, want)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("dry run changed the namespace: %v -> %v", before, after)
	}
}
