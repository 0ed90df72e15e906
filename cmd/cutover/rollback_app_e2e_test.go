package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/release"
)

// TestRollbackApp covers the instant path: the previous color still runs
// the previous release.
func TestRollbackApp(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"keep", "scale-down"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			if r := blueGreen(t, ns, "7"); r.code != exitOK {
				t.Fatalf("first deploy exited %d", r.code)
			}
			if r := blueGreen(t, ns, "8", "--idle-policy", policy, "--scale-down-delay", "100ms"); r.code != exitOK {
				t.Fatalf("second deploy exited %d", r.code)
			}
			rollbackAtOnce(t, ns, "tomcat-service")
			assertProduction(t, ns, "blue", "tomcat:7")
			rec := latestRecord(t, ns)
			if rec.Strategy != "rollback" || rec.FromColor != "green" || rec.ToColor != "blue" || rec.Outcome != "succeeded" {
				t.Errorf("rollback record: %+v", rec)
			}
			if objs, err := release.NewStore(cluster.Client, ns).Objects(context.Background(), rec); err != nil || len(objs) == 0 || !rec.HasObjects() {
				t.Errorf("the instant rollback's record keeps %d objects (%v): a later rollback to it could not redeploy", len(objs), err)
			}
			// Rolling back again returns to green, the release rolled back from.
			if r := cutover(t, ns, "", "rollback", "tomcat-service"); r.code != exitOK {
				t.Fatalf("second rollback exited %d", r.code)
			}
			if policy == "keep" {
				assertProduction(t, ns, "green", "tomcat:8")
			}
		})
	}
}

// secretManifest is a Secret per color holding the release's version: a
// redeploy does not restore it.
const secretManifest = `apiVersion: v1
kind: Secret
metadata:
  name: tomcat-secret-${TARGET_ROLE}
stringData:
  version: "${TOMCAT_VERSION}"
`

// TestRollbackAppRedeploysThePreviousRelease: 7 on blue, 8 on green, then
// blue no longer runs 7. The rollback redeploys 7 to blue from the record
// through the stages, with the checks of the deploy's config file, and
// switches production to it.
func TestRollbackAppRedeploysThePreviousRelease(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// leaveBlue makes blue run something else than 7, with production on
		// green (8); blueSecret is then the version blue's Secret holds.
		leaveBlue  func(t *testing.T, ns, secret string)
		blueSecret string
	}{
		{"idle policy update", func(t *testing.T, ns, secret string) {
			if r := blueGreen(t, ns, "8", "-f", secret, "--idle-policy", "update"); r.code != exitOK {
				t.Fatalf("deploy of 8 exited %d", r.code)
			}
		}, "8"},
		{"a failed deploy to blue", func(t *testing.T, ns, secret string) {
			if r := blueGreen(t, ns, "8", "-f", secret); r.code != exitOK {
				t.Fatalf("deploy of 8 exited %d", r.code)
			}
			srv := colorServer(t, "blue")
			r := blueGreen(t, ns, "9", "-f", secret, "--verify-url", srv.URL+"/{color}", "--verify-attempts", "1")
			if r.code != exitFailed {
				t.Fatalf("deploy of 9 exited %d, want %d (Verify Staged failed)", r.code, exitFailed)
			}
		}, "9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			secret := writeFile(t, "secret.yaml", secretManifest)
			if r := blueGreen(t, ns, "7", "-f", secret); r.code != exitOK {
				t.Fatalf("deploy of 7 exited %d", r.code)
			}
			tc.leaveBlue(t, ns, secret)
			assertProduction(t, ns, "green", "tomcat:8")
			if img := getDeployment(t, ns, "tomcat-deployment-blue").Spec.Template.Spec.Containers[0].Image; img == "tomcat:7" {
				t.Fatalf("blue still runs %s: the case does not test a redeploy", img)
			}
			log := filepath.Join(t.TempDir(), "checks.log")

			r := cutover(t, ns, "", "rollback", "tomcat-service", "-c", blueGreenConfig(t, log), "-o", "json")
			if r.code != exitOK {
				t.Fatalf("rollback exited %d", r.code)
			}
			want := []string{"Check Env", "Deploy", "Verify Staged", "Confirm", "Switch", "Verify Prod", "Post"}
			if got := finishedStages(t, r.stdout); !slices.Equal(got, want) {
				t.Errorf("stages %v, want %v", got, want)
			}
			assertProduction(t, ns, "blue", "tomcat:7")
			assertOnlyColorEndpoints(t, ns, "blue")
			if img := getDeployment(t, ns, "tomcat-deployment-green").Spec.Template.Spec.Containers[0].Image; img != "tomcat:8" {
				t.Errorf("green runs %s, want tomcat:8 kept for a rollback of the rollback", img)
			}
			assertCheckLog(t, log, "staged blue from-config tomcat-service", "prod blue from-config tomcat-service")
			assertSecretsWarned(t, r.stdout, ns, tc.blueSecret)

			rec := latestRecord(t, ns)
			if rec.Strategy != "rollback" || rec.Outcome != release.OutcomeSucceeded || rec.FromColor != "green" || rec.ToColor != "blue" ||
				!slices.Equal(rec.Images, []string{"tomcat:7"}) || !rec.HasObjects() {
				t.Errorf("the rollback's record: %+v, objects kept %v", rec, rec.HasObjects())
			}
			if objs, err := release.NewStore(cluster.Client, ns).Objects(context.Background(), rec); err != nil || len(objs) == 0 {
				t.Errorf("the rollback's record keeps %d objects: %v", len(objs), err)
			}
			st := cutover(t, ns, "", "status", "tomcat-service", "-o", "json")
			if st.code != exitOK || strings.Contains(st.stdout, "containerPort") || !strings.Contains(st.stdout, `"skippedSecrets"`) {
				t.Errorf("status -o json exited %d, must not show the objects:\n%s", st.code, st.stdout)
			}

			// Green still runs 8: rolling the rollback back is instant.
			r = cutover(t, ns, "", "rollback", "tomcat-service", "-o", "json")
			if r.code != exitOK || slices.Contains(finishedStages(t, r.stdout), "Deploy") {
				t.Fatalf("second rollback exited %d, want an instant switch", r.code)
			}
			assertProduction(t, ns, "green", "tomcat:8")
		})
	}
}

// TestRollbackAppRedeployAsksForApproval: a redeploy waits at Confirm as
// a deploy does, until `cutover approve`.
func TestRollbackAppRedeployAsksForApproval(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("deploy of 7 exited %d", r.code)
	}
	if r := blueGreen(t, ns, "8", "--idle-policy", "update"); r.code != exitOK {
		t.Fatalf("deploy of 8 exited %d", r.code)
	}
	done := make(chan result, 1)
	go func() {
		done <- cutover(t, ns, "", "rollback", "tomcat-service", "--approval", "manual", "--approval-timeout", "1m")
	}()
	if d := decideWhenPending(t, ns, "approve"); d.code != exitOK {
		t.Fatalf("approve exited %d", d.code)
	}
	if r := <-done; r.code != exitOK {
		t.Fatalf("rollback exited %d", r.code)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	rec := latestRecord(t, ns)
	if rec.Strategy != "rollback" || rec.Approval == nil || rec.Approval.State != release.ApprovalApproved || rec.Approval.By != "alice" {
		t.Errorf("the rollback's record: %+v, approval %+v", rec, rec.Approval)
	}
}

// TestRollbackAppRecordWithoutObjects: the previous release's record keeps
// no objects to redeploy (its objects ConfigMap was deleted by hand, or an
// older cutover wrote it), and blue no longer runs it: refused, nothing
// changed.
func TestRollbackAppRecordWithoutObjects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// lose takes the objects of revision 1 away.
		lose func(ctx context.Context, t *testing.T, cms corev1client.ConfigMapInterface)
		want []string // in the refusal
	}{
		{"objects ConfigMap deleted", func(ctx context.Context, t *testing.T, cms corev1client.ConfigMapInterface) {
			if err := cms.Delete(ctx, "cutover-tomcat-service-r1-objects", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}, []string{"not the previous release", "objects of revision 1 cannot be read", "ConfigMap cutover-tomcat-service-r1-objects, which is missing", "cutover deploy"}},
		{"record written before records kept objects", func(ctx context.Context, t *testing.T, cms corev1client.ConfigMapInterface) {
			cm, err := cms.Get(ctx, "cutover-tomcat-service-r1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(cm.Data["record"]), &doc); err != nil {
				t.Fatal(err)
			}
			delete(doc, "objects")
			delete(doc, "skippedSecrets")
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			cm.Data["record"] = string(b)
			if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, []string{"not the previous release", "revision 1 keeps no objects", "written by a cutover that did not keep objects", "cutover deploy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			if r := blueGreen(t, ns, "7"); r.code != exitOK {
				t.Fatalf("deploy of 7 exited %d", r.code)
			}
			if r := blueGreen(t, ns, "8", "--idle-policy", "update"); r.code != exitOK {
				t.Fatalf("deploy of 8 exited %d", r.code)
			}
			ctx := context.Background()
			cms := cluster.Client.CoreV1().ConfigMaps(ns)
			if _, err := cms.Get(ctx, "cutover-tomcat-service-r1-objects", metav1.GetOptions{}); err != nil {
				t.Fatalf("the deploy's record keeps no objects: %v", err)
			}
			tc.lose(ctx, t, cms)
			p := &prepared{ns: ns}
			if err := p.settle(ctx); err != nil {
				t.Fatal(err)
			}
			before := p.snapshot(t)

			r := cutover(t, ns, "", "rollback", "tomcat-service")
			if r.code != exitBadInput {
				t.Fatalf("rollback exited %d, want %d", r.code, exitBadInput)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the refusal should say %q: %s", want, r.stderr)
				}
			}
			if after := p.snapshot(t); !slices.Equal(before, after) {
				t.Errorf("a refused rollback changed the namespace: %v -> %v", before, after)
			}
			assertProduction(t, ns, "green", "tomcat:8")
		})
	}
}

// TestRollbackAppDryRun: --dry-run says which way the rollback would go,
// dry-runs a redeploy on the server, and writes nothing.
func TestRollbackAppDryRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy      string
		wantPlanned []string // "{ns}" is the namespace
	}{
		{"keep", []string{"Service/{ns}/tomcat-service would switch role back from green to blue at once (revision 1)"}},
		{"update", []string{"Deployment/{ns}/tomcat-deployment-blue configured", "Service/{ns}/tomcat-service would switch role from green to blue",
			"Service/{ns}/tomcat-test-blue unchanged"}},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			if r := blueGreen(t, ns, "7"); r.code != exitOK {
				t.Fatalf("deploy of 7 exited %d", r.code)
			}
			if r := blueGreen(t, ns, "8", "--idle-policy", tc.policy); r.code != exitOK {
				t.Fatalf("deploy of 8 exited %d", r.code)
			}
			p := &prepared{ns: ns}
			if err := p.settle(context.Background()); err != nil {
				t.Fatal(err)
			}
			before := p.snapshot(t)
			r := cutover(t, ns, "", "rollback", "tomcat-service", "--dry-run", "-o", "json")
			if r.code != exitOK {
				t.Fatalf("dry run exited %d", r.code)
			}
			var planned []string
			for _, ev := range jsonEvents(t, r.stdout) {
				if ev["type"] == "object.planned" {
					planned = append(planned, fmt.Sprint(ev["object"], " ", ev["action"]))
				}
			}
			slices.Sort(planned)
			var want []string
			for _, w := range tc.wantPlanned {
				want = append(want, strings.ReplaceAll(w, "{ns}", ns))
			}
			if !slices.Equal(planned, want) {
				t.Errorf("planned %q, want %q", planned, want)
			}
			if after := p.snapshot(t); !slices.Equal(before, after) {
				t.Errorf("a dry run changed the namespace: %v -> %v", before, after)
			}
		})
	}
}

// finishedStages lists the stages of -o json output in the order they
// finished.
func finishedStages(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	for _, ev := range jsonEvents(t, stdout) {
		if ev["type"] == "stage.finished" {
			out = append(out, fmt.Sprint(ev["stage"]))
		}
	}
	return out
}

// assertOnlyColorEndpoints checks production's EndpointSlices: their ready
// endpoints are exactly color's ready pods, and no endpoint at all is
// another color's.
func assertOnlyColorEndpoints(t *testing.T, ns, color string) {
	t.Helper()
	ctx := context.Background()
	ready := readyPods(t, ns, "app=tomcat,role="+color)
	if got := prodEndpoints(t, ns); len(ready) == 0 || !slices.Equal(got, ready) {
		t.Errorf("production's ready endpoints %v, want %s's ready pods %v", got, color, ready)
	}
	list, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).List(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=tomcat-service"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.TargetRef != nil && !strings.HasPrefix(e.TargetRef.Name, "tomcat-deployment-"+color+"-") {
				t.Errorf("production endpoint %s is not a %s pod", e.TargetRef.Name, color)
			}
		}
	}
}

// assertCheckLog checks the lines the config file's command check wrote.
func assertCheckLog(t *testing.T, log string, want ...string) {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("the checks did not run: %v", err)
	}
	if got := strings.Split(strings.TrimSpace(string(data)), "\n"); !slices.Equal(got, want) {
		t.Errorf("checks ran as %q, want %q", got, want)
	}
}

// assertSecretsWarned checks that the rollback warned that blue's Secret
// is not restored, and that it was not: it holds version.
func assertSecretsWarned(t *testing.T, stdout, ns, version string) {
	t.Helper()
	warned := false
	for _, ev := range jsonEvents(t, stdout) {
		msg := fmt.Sprint(ev["message"])
		warned = warned || ev["type"] == "warning" && strings.Contains(msg, "Secrets are not restored") && strings.Contains(msg, "tomcat-secret-blue")
	}
	if !warned {
		t.Error("no warning that the Secret tomcat-secret-blue is not restored")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, "tomcat-secret-blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.Data["version"]); got != version {
		t.Errorf("blue's Secret holds version %q, want %q, as the later deploy left it", got, version)
	}
}

// migrateJob is a migration Job, one per release, whose image no Deployment
// runs.
const migrateJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate-${TOMCAT_VERSION}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: migrate:${TOMCAT_VERSION}
`

// TestRollbackAppWithAJobIsInstant: the files hold a Job besides the
// Deployment, with an image of its own, which a release's images count but
// no color runs. Blue still runs 7 (idle policy keep), so rolling 8 back
// switches production back to it at once: blue's Deployment untouched, no
// redeploy. In managed mode too, whose Deployments are colored copies.
func TestRollbackAppWithAJobIsInstant(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		app  string // and production Service
		// deploy releases version, the Job included.
		deploy func(t *testing.T, ns, version string) result
		blue   string // blue's Deployment
		// prod checks that production selects color, running image.
		prod func(t *testing.T, ns, color, image string)
	}{
		{"template mode", "tomcat-service", func(t *testing.T, ns, version string) result {
			return blueGreen(t, ns, version, "-f", writeFile(t, "job.yaml", migrateJob))
		}, "tomcat-deployment-blue", assertProduction},
		{"managed mode", "web", func(t *testing.T, ns, version string) result {
			return managedDeploy(t, ns, writeFile(t, "app.yaml", plainApp+"---\n"+migrateJob), version)
		}, "web-blue", assertManagedProduction},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ns := cluster.Namespace(t)
			for _, v := range []string{"7", "8"} {
				if r := tc.deploy(t, ns, v); r.code != exitOK {
					t.Fatalf("deploy of %s exited %d", v, r.code)
				}
			}
			tc.prod(t, ns, "green", "tomcat:8")
			store := release.NewStore(cluster.Client, ns)
			r1, err := store.Get(ctx, tc.app, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r1.Images, []string{"migrate:7", "tomcat:7"}) || !slices.Equal(r1.DeploymentImages, []string{"tomcat:7"}) {
				t.Fatalf("revision 1 records images %v, deployment images %v; want the Job's among the first only",
					r1.Images, r1.DeploymentImages)
			}
			before := blueState(t, ns, tc.blue)

			r := rollbackAtOnce(t, ns, tc.app)
			tc.prod(t, ns, "blue", "tomcat:7")
			var said []string
			for _, ev := range jsonEvents(t, r.stdout) {
				if ev["type"] == "rollback" {
					said = append(said, fmt.Sprint(ev["status"], ": ", ev["message"]))
				}
			}
			if len(said) != 1 || !strings.HasPrefix(said[0], "switching back: from revision 2 (green) to revision 1 (blue)") {
				t.Errorf("the rollback said %q, want that it switches back at once", said)
			}
			if after := blueState(t, ns, tc.blue); !slices.Equal(before, after) {
				t.Errorf("blue changed: %v -> %v; an instant switch writes only the production selector", before, after)
			}
			rec, err := store.Latest(ctx, tc.app)
			if err != nil || rec == nil {
				t.Fatalf("latest record: %v, %v", rec, err)
			}
			if rec.Strategy != "rollback" || rec.Outcome != release.OutcomeSucceeded || rec.ToColor != "blue" ||
				!slices.Equal(rec.Images, r1.Images) || !slices.Equal(rec.DeploymentImages, r1.DeploymentImages) {
				t.Errorf("the rollback's record: %+v", rec)
			}
		})
	}
}

// blueState is blue's Deployment (generation and pod template), its
// ReplicaSets and its pods, by name and resource version where a change
// would show: what a redeploy would change and an instant switch must not.
func blueState(t *testing.T, ns, deployment string) []string {
	t.Helper()
	ctx := context.Background()
	d := getDeployment(t, ns, deployment)
	tmpl, err := json.Marshal(d.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{fmt.Sprintf("deployment %s generation %d template %s", d.Name, d.Generation, tmpl)}
	sel := metav1.FormatLabelSelector(d.Spec.Selector)
	rss, err := cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		out = append(out, fmt.Sprintf("replicaset %s replicas %d", rs.Name, ptr.Deref(rs.Spec.Replicas, -1)))
	}
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		out = append(out, "pod "+p.Name)
	}
	slices.Sort(out)
	return out
}

// TestRecordKeepsTheTargetColorsImages: a release's record names the
// images of the color it went to, even when an image names the color
// (${TARGET_ROLE}), so that rollback to it finds its color still running it
// and switches back at once.
func TestRecordKeepsTheTargetColorsImages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := cluster.Namespace(t)
	dir := t.TempDir()
	for _, name := range []string{"tomcat-deployment.yaml", "tomcat-service.yaml", "tomcat-test-service.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../examples/blue-green", name))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "image: tomcat:${TOMCAT_VERSION}", "image: tomcat:${TOMCAT_VERSION}-${TARGET_ROLE}"))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"7", "8", "9"} { // blue, green, blue
		r := cutover(t, ns, "", "deploy", "--strategy", "blue-green", "-f", dir, "--service", "tomcat-service",
			"--var", "TOMCAT_VERSION="+v, "-o", "json")
		if r.code != exitOK {
			t.Fatalf("deploy of %s exited %d", v, r.code)
		}
	}
	assertProduction(t, ns, "blue", "tomcat:9-blue")
	store := release.NewStore(cluster.Client, ns)
	for rev, want := range map[int]string{1: "tomcat:7-blue", 2: "tomcat:8-green", 3: "tomcat:9-blue"} {
		rec, err := store.Get(ctx, "tomcat-service", rev)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rec.Images, []string{want}) || !slices.Equal(rec.DeploymentImages, []string{want}) {
			t.Errorf("revision %d (%s) records images %v, deployment images %v; want %s", rev, rec.ToColor, rec.Images, rec.DeploymentImages, want)
		}
	}
	rollbackAtOnce(t, ns, "tomcat-service")
	assertProduction(t, ns, "green", "tomcat:8-green")
}

// rollbackAtOnce runs `cutover rollback APP`, which must succeed by the
// instant switch: no Deploy stage.
func rollbackAtOnce(t *testing.T, ns, app string) result {
	t.Helper()
	r := cutover(t, ns, "", "rollback", app, "-o", "json")
	if r.code != exitOK {
		t.Fatalf("rollback exited %d", r.code)
	}
	if got := finishedStages(t, r.stdout); slices.Contains(got, "Deploy") {
		t.Errorf("went through %v: a redeploy, not the instant switch", got)
	}
	return r
}
