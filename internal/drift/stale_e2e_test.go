package drift_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// TestRepairAtOnceWhenAStaleControllerListsAGonePodAnew replays chaos seed
// 318: 47 s after an API server restart the EndpointSlice controller, its
// pod informer stale, rewrote a slice with two pods deleted 18 s and 47 s
// before; requests to them failed for the 2.9 s until it caught up, while
// the guard counted its grace period from the write. A slice that lists a
// pod anew long after the pod left was written from a stale cache: the
// guard must drop the endpoint without waiting out its grace period (30 s
// here) and without a resync, which only makes a stale controller write
// again.
func TestRepairAtOnceWhenAStaleControllerListsAGonePodAnew(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	ns := cluster.Namespace(t)
	c := clients(t, ns)
	deploy(t, ctx, c, "1", 3)
	v := view(t, ctx, c, ns)
	stale := v.EndpointSlices("web")
	victim := v.Pods(nil)[0].Name
	sink := &event.Collector{}
	g := drift.Start(ctx, drift.Options{Clients: c, View: v, Targets: []drift.Target{{Service: "web"}}, Grace: 30 * time.Second, Sink: sink})
	defer func() { _, _ = g.Stop(ctx) }()

	if err := c.Typed.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := agreement(ctx, v, 20*time.Second); err != nil {
		t.Fatalf("the controller did not drop the deleted pod: %v", err)
	}
	frozen, err := cluster.Freeze(testbed.EndpointSliceController)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = frozen.Thaw() }()
	time.Sleep(1500 * time.Millisecond) // the pod has been gone for longer than a healthy controller lags

	st := &stranded{ns: ns, victim: victim, c: c, v: v, frozen: frozen}
	written := writeBack(t, ctx, st, stale)
	err = waitUntil(ctx, v, 10*time.Second, func() bool {
		return newerThan(v.EndpointSlices("web"), written) && !hasReason(v, drift.Gone)
	})
	if err != nil {
		t.Fatalf("the guard left the long-gone pod a ready endpoint: %v; events %v", err, sink.Events())
	}
	episodes, err := g.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := actions(sink, drift.ActionResync); n != 0 {
		t.Errorf("%d resyncs: a resync only makes a stale controller write again", n)
	}
	if len(episodes) != 1 || episodes[0].Repairs < 1 {
		t.Errorf("episodes %+v: want one with a repair", episodes)
	}
	if !anyContains(warnings(sink, "Service/"+ns+"/web"), "its cache is stale") {
		t.Errorf("no warning names the stale controller: %v", sink.Events())
	}
	st.assertDropped(t, ctx)
	st.thaw(t, ctx)
}

// TestViewFollowsSoonAfterAnAPIServerRestart keeps the API server down
// for 10 s, long enough for client-go's informer back-off (0.8 s doubling
// to 30 s, jittered up to twice that) to leave an informer blind after it
// is back: 2.5 s and 4.3 s in two runs of the View on a shared informer
// factory. The View retries within readiness.RetryCap, so a change made
// once the API server is ready reaches it within 2 s; the figure is
// logged. Its file sorts last in the package, so that it runs last: the
// controller-manager's own informers lag the restart for tens of seconds
// (a namespace waited over 60 s for its default service account), which
// a later test would meet.
func TestViewFollowsSoonAfterAnAPIServerRestart(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	ns := cluster.Namespace(t)
	c := clients(t, ns)
	deploy(t, ctx, c, "1", 1)
	v := view(t, ctx, c, ns)

	res, err := cluster.RestartAPIServer(ctx, testbed.RestartOptions{Kill: true, Down: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"metadata":{"annotations":{"example.com/after-restart":"yes"}}}`)
	if _, err := c.Typed.CoreV1().Services(ns).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	err = waitUntil(ctx, v, 2*time.Second, func() bool {
		svc := v.Service("web")
		return svc != nil && svc.Annotations["example.com/after-restart"] == "yes"
	})
	if err != nil {
		t.Fatalf("the View had not seen a change %s after the API server was back: %v", time.Since(res.Ready).Round(time.Millisecond), err)
	}
	t.Logf("API server down %s; the View saw a change %s after it was ready (written %s after)",
		res.Ready.Sub(res.Stopping).Round(time.Millisecond), time.Since(res.Ready).Round(time.Millisecond), written.Sub(res.Ready).Round(time.Millisecond))
}
