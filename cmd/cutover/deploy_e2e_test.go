package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// webApp is the article's Deployment, with the test bed's pod behaviour and
// the version, behaviour and deadline left to variables.
const webApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  progressDeadlineSeconds: ${DEADLINE}
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
      annotations:
        testbed.cutover.dev/behavior: ${BEHAVIOR}
        testbed.cutover.dev/ready-after: 300ms
        testbed.cutover.dev/terminate-after: 1s
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: tomcat
        image: tomcat:${VERSION}
`

func deployWeb(t *testing.T, ns, file, version, behavior string, deadline int, extra ...string) result {
	t.Helper()
	args := append([]string{"deploy", "-f", file, "-o", "json",
		"--var", "VERSION=" + version, "--var", "BEHAVIOR=" + behavior, "--var", fmt.Sprintf("DEADLINE=%d", deadline)}, extra...)
	return cutover(t, ns, "", args...)
}

func dynamicFor(t *testing.T) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func getDeployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// podImages returns the image of every pod in ns, terminating ones included.
func podImages(t *testing.T, ns string) []string {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Spec.Containers[0].Image)
	}
	slices.Sort(out)
	return out
}

// assertRunning checks that web runs image with every replica updated and
// available and no other pod left.
func assertRunning(t *testing.T, ns, image string) {
	t.Helper()
	d := getDeployment(t, ns, "web")
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("deployment template image %s, want %s", got, image)
	}
	s := d.Status
	if s.UpdatedReplicas != 3 || s.AvailableReplicas != 3 || s.Replicas != 3 {
		t.Errorf("deployment status updated=%d available=%d replicas=%d, want 3 each", s.UpdatedReplicas, s.AvailableReplicas, s.Replicas)
	}
	if got, want := podImages(t, ns), []string{image, image, image}; !slices.Equal(got, want) {
		t.Errorf("pods run %v, want %v", got, want)
	}
}

func TestDeployRollingUpdateReturnsAfterOldPodsAreGone(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "web.yaml", webApp)
	if r := deployWeb(t, ns, file, "7", "ready", 60); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	assertRunning(t, ns, "tomcat:7")
	r := deployWeb(t, ns, file, "8", "ready", 60)
	if r.code != exitOK {
		t.Fatalf("update exited %d", r.code)
	}
	// Checked right after return: old pods linger 1s in Terminating, and
	// cutover must have waited for them.
	assertRunning(t, ns, "tomcat:8")
	evs := jsonEvents(t, r.stdout)
	last := evs[len(evs)-1]
	if last["type"] != "result" || last["status"] != "succeeded" {
		t.Errorf("last event %v, want a succeeded result", last)
	}
}

// TestDeployRollingUpdateReturnsAfterTheServiceRoutesToNewPods: a
// rolling update, or its rollback, is done when the Service in front of
// the Deployment sends traffic to the new pods only (the previous ones
// after a rollback), as its EndpointSlices show, not when the Deployment's
// status says so.
func TestDeployRollingUpdateReturnsAfterTheServiceRoutesToNewPods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := cluster.Namespace(t)
	file := writeFile(t, "web.yaml", webApp+`---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
`)
	// 7 and 8 roll out; 9 never gets ready and is rolled back to 8, and
	// the rollback too waits until the Service routes to 8's pods.
	for _, run := range []struct{ version, behavior, stage string }{
		{"7", "ready", "Wait"}, {"8", "ready", "Wait"}, {"9", "never-ready", "Rollback"},
	} {
		r := deployWeb(t, ns, file, run.version, run.behavior, 3)
		if want := map[string]int{"Wait": exitOK, "Rollback": exitRolledBack}[run.stage]; r.code != want {
			t.Fatalf("deploy of %s exited %d, want %d", run.version, r.code, want)
		}
		said := false
		for _, ev := range jsonEvents(t, r.stdout) {
			said = said || ev["type"] == "object.status" && ev["stage"] == run.stage && ev["object"] == "Service/"+ns+"/web" &&
				strings.Contains(fmt.Sprint(ev["message"]), "ready endpoints are the ready pods")
		}
		if !said {
			t.Errorf("deploy of %s did not say, at %s, that Service web routes to the ready pods", run.version, run.stage)
		}
	}
	// Right after return: the ready endpoints are the tomcat:8 pods.
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image == "tomcat:8" {
			want = append(want, p.Name)
		}
	}
	slices.Sort(want)
	if ready := serviceEndpoints(t, ns, "web"); len(want) != 3 || !slices.Equal(ready, want) {
		t.Errorf("ready endpoints of web %v, want the tomcat:8 pods %v", ready, want)
	}
}

func TestDeployNeverReadyReleaseRollsBack(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "web.yaml", webApp)
	if r := deployWeb(t, ns, file, "7", "ready", 60); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	r := deployWeb(t, ns, file, "8", "never-ready", 3)
	if r.code != exitRolledBack {
		t.Fatalf("exit %d, want %d (rolled back)", r.code, exitRolledBack)
	}
	if !strings.Contains(r.stderr, "Progress deadline exceeded") || !strings.Contains(r.stderr, "pods not ready: web-") {
		t.Errorf("error should name the deadline and the stuck pod: %s", r.stderr)
	}
	assertRunning(t, ns, "tomcat:7")
}

func TestDeployCrashLoopFailsFastAndRollsBack(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "web.yaml", webApp)
	if r := deployWeb(t, ns, file, "7", "ready", 600); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	// The deadline is 10 minutes: only the crash loop can end this quickly
	// (the test's context allows 3).
	r := deployWeb(t, ns, file, "8", "crash-loop", 600)
	if r.code != exitRolledBack {
		t.Fatalf("exit %d, want %d", r.code, exitRolledBack)
	}
	if !strings.Contains(r.stderr, "CrashLoopBackOff") || !strings.Contains(r.stderr, "pod web-") {
		t.Errorf("error should name the pod and CrashLoopBackOff: %s", r.stderr)
	}
	assertRunning(t, ns, "tomcat:7")
}

func TestDeployFailingCheckRollsBack(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	file := writeFile(t, "web.yaml", webApp)
	if r := deployWeb(t, ns, file, "7", "ready", 60); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	r := deployWeb(t, ns, file, "8", "ready", 60,
		"--verify-url", srv.URL, "--verify-attempts", "3", "--verify-interval", "50ms")
	if r.code != exitRolledBack {
		t.Fatalf("exit %d, want %d", r.code, exitRolledBack)
	}
	if !strings.Contains(r.stderr, "503") {
		t.Errorf("error should carry the check's last result: %s", r.stderr)
	}
	assertRunning(t, ns, "tomcat:7")
}

func TestDeployPassingCheckSucceeds(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<title>Apache Tomcat/8.5.100</title>")
	}))
	defer srv.Close()
	file := writeFile(t, "web.yaml", webApp)
	r := deployWeb(t, ns, file, "8", "ready", 60,
		"--verify-url", srv.URL, "--verify-contains", "Apache Tomcat/8", "--verify-interval", "50ms")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	passed := false
	for _, ev := range jsonEvents(t, r.stdout) {
		if ev["type"] == "check.attempt" && ev["status"] == "passed" {
			passed = true
		}
	}
	if !passed {
		t.Error("no passed check.attempt event")
	}
}

func TestDeployOneBadDocumentAmong20ChangesNothing(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	// A baseline that the bad run must leave exactly as it is.
	if r := cutover(t, ns, "", "deploy", "-f", writeFile(t, "base.yaml", configMaps(0, 3, "v1")), "-o", "json"); r.code != exitOK {
		t.Fatalf("baseline exited %d", r.code)
	}
	before := snapshot(t, ns)
	docs := configMaps(0, 19, "v2") + "---\n" + strings.Replace(strings.NewReplacer("${VERSION}", "8", "${BEHAVIOR}", "ready", "${DEADLINE}", "60").Replace(webApp),
		"  replicas: 3\n", "  replicas: 3\n  replicaz: 4\n", 1)
	file := writeFile(t, "twenty.yaml", docs)
	r := cutover(t, ns, "", "deploy", "-f", file, "-o", "json")
	if r.code != exitBadInput {
		t.Fatalf("exit %d, want %d (bad input)", r.code, exitBadInput)
	}
	for _, want := range []string{"twenty.yaml", "document 20", "replicaz"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error should name %q: %s", want, r.stderr)
		}
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("namespace changed:\nbefore %v\nafter  %v", before, after)
	}
}

func configMaps(from, to int, value string) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\ndata:\n  value: %q\n", i, value)
	}
	return b.String()
}

func TestDeployCRDWithItsCustomResource(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	group := ns + ".example.com"
	docs := widgetManifests(group, "${SIZE}")
	t.Cleanup(func() {
		_ = dynamicFor(t).Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
			Delete(context.Background(), "widgets."+group, metav1.DeleteOptions{})
	})
	r := cutover(t, ns, "", "deploy", "-f", writeFile(t, "crd.yaml", docs), "--var", "SIZE=3", "-o", "json")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	w, err := dynamicFor(t).Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}).
		Namespace(ns).Get(context.Background(), "sprocket", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructuredInt(w.Object, "spec", "size"); size != 3 {
		t.Errorf("widget size %d, want the integer 3", size)
	}
}

func TestDeployFromStdin(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	in := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-stdin\ndata:\n  greeting: hello ${WHO}\n"
	r := cutover(t, ns, in, "deploy", "-f", "-", "--var", "WHO=world", "-o", "json")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), "from-stdin", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["greeting"] != "hello world" {
		t.Errorf("greeting %q", cm.Data["greeting"])
	}
	if cm.ManagedFields[0].Manager != "cutover" {
		t.Errorf("field manager %q, want cutover", cm.ManagedFields[0].Manager)
	}
}

// TestDeployIntoANamespaceTheFilesCreate: files that hold their own
// Namespace deploy into it on a first release, as kubectl apply does: the
// app's lock (a Lease there) needs it, so it is created first (the demo's
// rolling update was refused: namespaces "tomcat-rolling" not found).
func TestDeployIntoANamespaceTheFilesCreate(t *testing.T) {
	t.Parallel()
	testbed.Require(t, cluster)
	ns := strings.ToLower(strings.ReplaceAll(t.Name(), "Test", "t-")) + "-" + fmt.Sprint(time.Now().UnixNano()%100000)
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	in := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n"
	r := cutover(t, ns, in, "deploy", "-f", "-")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), "settings", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestDeployDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	before := snapshot(t, ns)
	file := writeFile(t, "web.yaml", webApp)
	r := deployWeb(t, ns, file, "8", "ready", 60, "--dry-run")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	if !strings.Contains(r.stdout, `"action":"created"`) {
		t.Errorf("dry run should report the Deployment as created: %s", r.stdout)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("dry run changed the namespace: %v -> %v", before, after)
	}
}
