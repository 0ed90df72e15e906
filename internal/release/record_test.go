package release_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/release"
)

// TestDeploymentImagesRoundTrip: a record keeps its release's Deployment
// images apart from all of its images, and one written before it kept
// them reads back without, ColorImages falling back to Images.
func TestDeploymentImagesRoundTrip(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	r := create(t, s, &release.Record{App: "web", Strategy: "blue-green", ToColor: "blue",
		Images: []string{"migrate:7", "tomcat:7"}, DeploymentImages: []string{"tomcat:7"}})
	if data := getConfigMap(t, ns, "cutover-web-r1").Data["record"]; !strings.Contains(data, `"deploymentImages":["tomcat:7"]`) {
		t.Errorf("stored record %s", data)
	}
	got, err := s.Get(ctx, "web", r.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.DeploymentImages, []string{"tomcat:7"}) || !slices.Equal(got.ColorImages(), []string{"tomcat:7"}) ||
		!slices.Equal(got.Images, []string{"migrate:7", "tomcat:7"}) {
		t.Errorf("read back images %v, deployment images %v, color images %v", got.Images, got.DeploymentImages, got.ColorImages())
	}

	old := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cutover-old-r1", Labels: map[string]string{
			"app.kubernetes.io/managed-by": "cutover", "cutover.dev/app": "old", "cutover.dev/revision": "1",
		}},
		Data: map[string]string{"record": `{"version":1,"app":"old","namespace":"` + ns + `","strategy":"blue-green","revision":1,` +
			`"toColor":"blue","images":["migrate:7","tomcat:7"],"outcome":"succeeded"}`},
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(ctx, old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, "old", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeploymentImages != nil || !slices.Equal(got.ColorImages(), []string{"migrate:7", "tomcat:7"}) {
		t.Errorf("an older record: deployment images %v, color images %v; want none, and its images", got.DeploymentImages, got.ColorImages())
	}
}

// TestStageIDs: a record's stages carry their stable identifiers, and its
// analysis measurements are kept; a record written before stages had ids
// reads back with them derived from the names.
func TestStageIDs(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	rec := release.NewRecorder(s, &release.Record{App: "web", Strategy: "blue-green"}, nil)
	if err := rec.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"Check Env", "Verify Staged"} {
		rec.Emit(event.Event{Type: event.StageStarted, Stage: st, Time: time.Now()})
		rec.Emit(event.Event{Type: event.StageFinished, Stage: st, Status: event.Succeeded, Time: time.Now()})
	}
	rec.Emit(event.Event{Type: event.Analysis, Stage: "Verify Staged", Object: "metric error-rate", Status: "failed",
		Message: "result 0.3", Time: time.Now()})
	if err := rec.Finish(release.OutcomeSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	data := getConfigMap(t, ns, "cutover-web-r1").Data["record"]
	if !strings.Contains(data, `"name":"Verify Staged","id":"verify-staged"`) ||
		!strings.Contains(data, `"stage":"Verify Staged","metric":"error-rate","phase":"failed","value":"result 0.3"`) {
		t.Errorf("stored record %s", data)
	}
	old := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cutover-old-r1", Labels: map[string]string{
			"app.kubernetes.io/managed-by": "cutover", "cutover.dev/app": "old", "cutover.dev/revision": "1",
		}},
		Data: map[string]string{"record": `{"version":1,"app":"old","namespace":"` + ns + `","strategy":"rolling","revision":1,` +
			`"stages":[{"name":"Validate","status":"succeeded"},{"name":"Wait","status":"failed"}],"outcome":"failed"}`},
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(ctx, old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for app, want := range map[string][]string{"web": {"check-env", "verify-staged"}, "old": {"validate", "wait"}} {
		got, err := s.Get(ctx, app, 1)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, st := range got.Stages {
			ids = append(ids, st.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: stage ids %v, want %v", app, ids, want)
		}
	}
}
