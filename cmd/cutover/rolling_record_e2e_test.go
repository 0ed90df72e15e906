package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// webConf is a ConfigMap released with webApp.
const webConf = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-conf
data:
  version: "${VERSION}"
---
`

// TestRollingReleasesAreLockedAndRecorded: a rolling update holds its
// app's lock (named after its Deployment, or --app) and leaves a release
// record with its objects, which status and history read; a run that
// meets the lock held changes nothing; rollback APP redeploys the previous
// release's objects, the ConfigMap too, and a second one goes forward
// again; rollback deployment/NAME still restores the Deployment's previous
// revision.
func TestRollingReleasesAreLockedAndRecorded(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "web.yaml", webConf+webApp)
	for _, v := range []string{"7", "8"} {
		if r := deployWeb(t, ns, file, v, "ready", 60); r.code != exitOK {
			t.Fatalf("deploy %s: exit %d", v, r.code)
		}
	}
	ctx := context.Background()
	store := release.NewStore(cluster.Client, ns)
	latest, err := store.Latest(ctx, "web")
	if err != nil || latest == nil {
		t.Fatalf("latest record of web: %v, %v", latest, err)
	}
	if latest.Revision != 2 || latest.Strategy != "rolling" || latest.Outcome != release.OutcomeSucceeded ||
		!slices.Equal(latest.Images, []string{"tomcat:8"}) {
		t.Errorf("record: revision %d, strategy %s, outcome %s, images %v; want 2, rolling, succeeded, [tomcat:8]",
			latest.Revision, latest.Strategy, latest.Outcome, latest.Images)
	}
	assertRollingStages(t, latest)
	objs, err := store.Objects(ctx, latest)
	if err != nil || len(objs) != 2 || objs[1].GetKind() != "Deployment" || objs[1].GetName() != "web" {
		t.Errorf("the record keeps %d objects (%v), want the ConfigMap and the Deployment web", len(objs), err)
	}

	lock, err := release.Acquire(ctx, cluster.Client, ns, "web", release.LockOptions{Holder: "ci-7/pid 1 (jenkins-web-43)"})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ns)
	if r := deployWeb(t, ns, file, "9", "ready", 60); r.code != exitBadInput || !strings.Contains(r.stderr, "jenkins-web-43") {
		t.Errorf("deploy 9 with the lock held: exit %d, stderr %q; want 3 naming the holder", r.code, r.stderr)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("namespace changed: %v -> %v", before, after)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatal(err)
	}

	h := cutover(t, ns, "", "history", "web", "-o", "json")
	var recs []map[string]any
	if err := json.Unmarshal([]byte(h.stdout), &recs); h.code != exitOK || err != nil || len(recs) != 2 || recs[0]["revision"] != 2.0 {
		t.Errorf("history: exit %d, %v, %s; want revisions 2 and 1", h.code, err, h.stdout)
	}
	before = snapshot(t, ns)
	r := cutover(t, ns, "", "rollback", "web", "--dry-run", "-o", "json")
	var said []string
	for _, ev := range jsonEvents(t, r.stdout) {
		if ev["type"] == "rollback" {
			said = append(said, fmt.Sprint(ev["status"], ": ", ev["message"]))
		}
	}
	if r.code != exitOK || len(said) != 1 || !strings.HasPrefix(said[0], "would redeploy: revision 1 (tomcat:7)") {
		t.Errorf("rollback web --dry-run: exit %d, said %q\n%s", r.code, said, r.stderr)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("the dry run changed the namespace: %v -> %v", before, after)
	}
	for _, want := range []struct{ version, strategy string }{{"7", "rollback"}, {"8", "rollback"}} {
		if r := cutover(t, ns, "", "rollback", "web"); r.code != exitOK {
			t.Fatalf("rollback web: exit %d\n%s", r.code, r.stderr)
		}
		assertWebRuns(t, ns, want.version)
		rec, err := store.Latest(ctx, "web")
		if err != nil || rec.Strategy != want.strategy || rec.Outcome != release.OutcomeSucceeded || rec.Images[0] != "tomcat:"+want.version {
			t.Errorf("the rollback's record: %+v, %v; want a successful rollback to tomcat:%s", rec, err, want.version)
		}
	}
	if r := cutover(t, ns, "", "rollback", "deployment/web"); r.code != exitOK {
		t.Fatalf("rollback deployment/web: exit %d\n%s", r.code, r.stderr)
	}
	if img := getDeployment(t, ns, "web").Spec.Template.Spec.Containers[0].Image; img != "tomcat:7" {
		t.Errorf("after rollback deployment/web the Deployment runs %s, want tomcat:7", img)
	}
}

// assertWebRuns checks that the Deployment web runs tomcat:version, and
// that the ConfigMap web-conf says version.
func assertWebRuns(t *testing.T, ns, version string) {
	t.Helper()
	if img := getDeployment(t, ns, "web").Spec.Template.Spec.Containers[0].Image; img != "tomcat:"+version {
		t.Errorf("the Deployment runs %s, want tomcat:%s", img, version)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), "web-conf", metav1.GetOptions{})
	if err != nil || cm.Data["version"] != version {
		t.Errorf("ConfigMap web-conf: %v, %v; want version %s", cm.Data, err, version)
	}
}

// assertRollingStages checks a rolling record's stages: each of the
// strategy's, in order, succeeded.
func assertRollingStages(t *testing.T, r *release.Record) {
	t.Helper()
	var got []string
	for _, s := range r.Stages {
		got = append(got, s.Name+" "+s.Status)
	}
	want := []string{"Validate succeeded", "Apply succeeded", "Wait succeeded"}
	if !slices.Equal(got, want) {
		t.Errorf("stages %v, want %v", got, want)
	}
}

// TestRollingFailureIsRecorded: a rolling update that never becomes ready
// is rolled back, and its record says so.
func TestRollingFailureIsRecorded(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "web.yaml", webApp)
	if r := deployWeb(t, ns, file, "7", "ready", 60); r.code != exitOK {
		t.Fatalf("deploy 7: exit %d", r.code)
	}
	if r := deployWeb(t, ns, file, "8", "never-ready", 2, "--app", "shop"); r.code != exitRolledBack {
		t.Fatalf("deploy 8, never ready: exit %d, want %d", r.code, exitRolledBack)
	}
	rec, err := release.NewStore(cluster.Client, ns).Latest(context.Background(), "shop")
	if err != nil || rec == nil {
		t.Fatalf("latest record of shop: %v, %v", rec, err)
	}
	if rec.Revision != 1 || rec.Outcome != release.OutcomeRolledBack || !strings.Contains(rec.Error, "rolled back") {
		t.Errorf("record: revision %d, outcome %s, error %q; want 1, rolled-back, the failure", rec.Revision, rec.Outcome, rec.Error)
	}
}
