package drift_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/testbed"
)

// TestRepairDropsAGonePodWhileTheControllerIsStuck freezes the
// EndpointSlice controller and deletes a pod for good, as happens when the
// controller's informers are stale after an API server restart (chaos seed
// 2094: two gone pods stayed ready endpoints for 45 s, and requests failed
// once they stopped). No resync can help; the guard must drop the gone
// pod's endpoint from the slice itself, and the controller, once back,
// must agree.
func TestRepairDropsAGonePodWhileTheControllerIsStuck(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	ns := cluster.Namespace(t)
	c := clients(t, ns)
	deploy(t, ctx, c, "1", 3)
	v := view(t, ctx, c, ns)

	frozen, err := cluster.Freeze(testbed.EndpointSliceController)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = frozen.Thaw() })
	victim := v.Pods(nil)[0].Name
	if err := c.Typed.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := waitDisagree(ctx, v, drift.Gone); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if !hasReason(v, drift.Gone) {
		t.Fatal("the frozen controller dropped the gone pod by itself: the fault was not reproduced")
	}

	sink := &event.Collector{}
	g := drift.Start(ctx, drift.Options{Clients: c, View: v, Targets: []drift.Target{{Service: "web"}}, Grace: 500 * time.Millisecond, Sink: sink})
	err = waitUntil(ctx, v, 5*time.Second, func() bool { return !hasReason(v, drift.Gone) })
	episodes, stopErr := g.Stop(ctx)
	if err != nil {
		t.Fatalf("the guard left the gone pod a ready endpoint: %v; events %v", err, sink.Events())
	}
	if stopErr != nil {
		t.Fatal(stopErr)
	}
	if len(episodes) != 1 || episodes[0].Repairs < 1 {
		t.Errorf("episodes %+v: want one with a repair", episodes)
	}
	live, err := c.Typed.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, s := range live.Items {
		for _, e := range s.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Name == victim {
				t.Errorf("slice %s still lists the gone pod %s", s.Name, victim)
			}
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready++
			}
		}
	}
	if ready != 2 {
		t.Errorf("%d ready endpoints after the repair, want the 2 pods that remain", ready)
	}
	if !anyContains(warnings(sink, "Service/"+ns+"/web"), "dropped the endpoints of pods that are gone") {
		t.Errorf("no warning reports the repair: %v", sink.Events())
	}

	if _, err := frozen.Thaw(); err != nil {
		t.Fatal(err)
	}
	if took, err := agreement(ctx, v, 20*time.Second); err != nil {
		t.Fatalf("after the thaw the controller did not agree: %v", err)
	} else {
		t.Logf("the controller agreed %s after the thaw (the replacement pod added)", took)
	}
}

func hasReason(v *readiness.View, r drift.Reason) bool {
	return slices.ContainsFunc(drift.Compare(v.Service("web"), v.EndpointSlices("web"), v.Pods(nil)),
		func(d drift.Disagreement) bool { return d.Reason == r })
}

// waitUntil waits for cond, judged on every change of the View.
func waitUntil(ctx context.Context, v *readiness.View, d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		changed := v.Changed()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("not within " + d.String())
		case <-changed:
		}
	}
}
