package drift_test

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// TestGuardPausesARollingUpdateWhileTheControllerIsFrozen freezes the
// EndpointSlice controller during a rolling update, where no write can
// help: production keeps routing to the old pods. The guard must pause
// the Deployment so that the old pods that take the traffic are not all
// taken away, never let the run report success while the slices are
// stale, and resume the Deployment once the controller is back.
func TestGuardPausesARollingUpdateWhileTheControllerIsFrozen(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	ns := cluster.Namespace(t)
	c := clients(t, ns)
	deploy(t, ctx, c, "1", 3)
	v := view(t, ctx, c, ns)

	frozen, err := cluster.Freeze(testbed.EndpointSliceController)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = frozen.Thaw() })
	sink := &event.Collector{}
	done := make(chan error, 1)
	go func() {
		r := strategy.NewRolling(c, strategy.RollingOptions{Sink: sink, EndpointGuard: drift.Settings{Grace: time.Second}})
		done <- r.Run(ctx, app(t, "2", 3, 2*time.Second, 45*time.Second))
	}()
	if err := awaitPaused(ctx, c, ns, 30*time.Second); err != nil {
		t.Fatalf("%v; events %v", err, sink.Events())
	}
	time.Sleep(3 * time.Second) // long enough for the rollout to have gone on, had it not been paused
	kept := servingOld(v, "tomcat:1")
	select {
	case err := <-done:
		t.Fatalf("the run ended while the controller was frozen (slices stale): %v", err)
	default:
	}
	if was, err := frozen.Thaw(); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("controller frozen for %s; old pods not terminating at the thaw: %d of 3", was.Round(time.Millisecond), kept)
	}
	if kept < 2 {
		t.Errorf("only %d old pods were left serving when the controller came back: the pause came too late", kept)
	}
	if err := <-done; err != nil {
		t.Fatalf("the run failed after the thaw: %v", err)
	}
	assertResumed(t, ctx, c, ns)
	msgs := warnings(sink, "Deployment/"+ns+"/web")
	if !anyContains(msgs, "paused: a Service's endpoints do not follow its pods") || !anyContains(msgs, "resumed") {
		t.Errorf("warnings %q do not report the pause and the resume", msgs)
	}
}

// TestARerunResumesADeploymentTheGuardLeftPaused leaves the Deployment as
// a run killed while its guard held it paused would: paused, with the
// guard's mark. The next run must resume it and finish the release.
func TestARerunResumesADeploymentTheGuardLeftPaused(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	ns := cluster.Namespace(t)
	c := clients(t, ns)
	deploy(t, ctx, c, "1", 2)
	patch := []byte(`{"metadata":{"annotations":{"` + drift.PausedAnnotation + `":"endpoint-guard"}},"spec":{"paused":true}}`)
	if _, err := c.Typed.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: drift.FieldManager}); err != nil {
		t.Fatal(err)
	}
	sink := &event.Collector{}
	r := strategy.NewRolling(c, strategy.RollingOptions{Sink: sink})
	if err := r.Run(ctx, app(t, "2", 2, 200*time.Millisecond, 0)); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	assertResumed(t, ctx, c, ns)
	if !anyContains(warnings(sink, "Deployment/"+ns+"/web"), "an earlier run's endpoint guard had paused it") {
		t.Errorf("no warning says the Deployment was resumed: %v", sink.Events())
	}
}

// awaitPaused watches the Deployment web until the guard has paused it.
func awaitPaused(ctx context.Context, c *kube.Clients, ns string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	w, err := c.Typed.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "web").String()})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if dep, ok := ev.Object.(*appsv1.Deployment); ok && ev.Type != watch.Deleted &&
			dep.Spec.Paused && dep.Annotations[drift.PausedAnnotation] != "" {
			return nil
		}
	}
	return errors.New("the guard never paused the Deployment")
}

// servingOld counts the pods of image that are not terminating.
func servingOld(v *readiness.View, image string) int {
	n := 0
	for _, p := range v.Pods(nil) {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image == image {
			n++
		}
	}
	return n
}

func assertResumed(t *testing.T, ctx context.Context, c *kube.Clients, ns string) {
	t.Helper()
	d, err := c.Typed.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Paused || d.Annotations[drift.PausedAnnotation] != "" {
		t.Errorf("the Deployment is left paused=%v with annotations %v", d.Spec.Paused, d.Annotations)
	}
	if d.Status.UpdatedReplicas != *d.Spec.Replicas || d.Status.Replicas != *d.Spec.Replicas {
		t.Errorf("the rollout did not finish: %+v", d.Status)
	}
}
