package drift_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/testinfra/testbed"
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
	st := strand(t, ctx)
	sink := &event.Collector{}
	g := drift.Start(ctx, drift.Options{Clients: st.c, View: st.v, Targets: []drift.Target{{Service: "web"}}, Grace: 500 * time.Millisecond, Sink: sink})
	err := waitUntil(ctx, st.v, 5*time.Second, func() bool { return !hasReason(st.v, drift.Gone) })
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
	st.assertDropped(t, ctx)
	if !anyContains(warnings(sink, "Service/"+st.ns+"/web"), "dropped the endpoints of pods that are gone") {
		t.Errorf("no warning reports the repair: %v", sink.Events())
	}
	st.thaw(t, ctx)
}

// TestRepairHoldsWhenTheStaleControllerWritesBack writes the stale slice
// back after the guard's repair, as the controller did in chaos seed 2072
// (its pod informer stale for 45 s after an API server restart, it
// rewrote the gone pods about a second after each resync; the guard
// repaired again only on its resync cadence, and requests failed once the
// gone pods stopped). The guard must drop the gone pod again at once, and
// resync no more: a resync only invites the stale controller to write.
func TestRepairHoldsWhenTheStaleControllerWritesBack(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	st := strand(t, ctx)
	stale := st.v.EndpointSlices("web")
	sink := &event.Collector{}
	g := drift.Start(ctx, drift.Options{Clients: st.c, View: st.v, Targets: []drift.Target{{Service: "web"}}, Grace: 500 * time.Millisecond, Sink: sink})
	defer func() { _, _ = g.Stop(ctx) }()
	if err := waitUntil(ctx, st.v, 5*time.Second, func() bool { return !hasReason(st.v, drift.Gone) }); err != nil {
		t.Fatalf("the guard did not repair: %v; events %v", err, sink.Events())
	}
	resyncs := actions(sink, drift.ActionResync)

	for i := range 3 { // the controller's write-backs, a second apart as in seed 2072
		written := writeBack(t, ctx, st, stale)
		err := waitUntil(ctx, st.v, 5*time.Second, func() bool {
			return newerThan(st.v.EndpointSlices("web"), written) && !hasReason(st.v, drift.Gone)
		})
		if err != nil {
			t.Fatalf("write-back %d: the guard left the gone pod a ready endpoint: %v; events %v", i+1, err, sink.Events())
		}
		time.Sleep(time.Second)
	}
	episodes, err := g.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(sink, drift.ActionResync); got != resyncs {
		t.Errorf("%d resyncs after the repair, want none: a resync makes a stale controller write again", got-resyncs)
	}
	if len(episodes) != 1 || episodes[0].Repairs != 4 {
		t.Errorf("episodes %+v: want one with 4 repairs, the first and one per write-back", episodes)
	}
	if !anyContains(warnings(sink, "Service/"+st.ns+"/web"), "wrote back the endpoints of pods that are gone") {
		t.Errorf("no warning reports the repeated repair: %v", sink.Events())
	}
	st.assertDropped(t, ctx)
	st.thaw(t, ctx)
}

// stranded is a Service whose controller is frozen while one of its pods
// is gone for good but still listed as a ready endpoint.
type stranded struct {
	ns, victim string
	c          *kube.Clients
	v          *readiness.View
	frozen     *testbed.Frozen
}

// strand deploys web with 3 pods, freezes the EndpointSlice controller and
// deletes a pod for good, as happens when the controller's informers are
// stale after an API server restart.
func strand(t *testing.T, ctx context.Context) *stranded {
	t.Helper()
	st := &stranded{ns: cluster.Namespace(t)}
	st.c = clients(t, st.ns)
	deploy(t, ctx, st.c, "1", 3)
	st.v = view(t, ctx, st.c, st.ns)
	var err error
	if st.frozen, err = cluster.Freeze(testbed.EndpointSliceController); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = st.frozen.Thaw() })
	st.victim = st.v.Pods(nil)[0].Name
	if err := st.c.Typed.CoreV1().Pods(st.ns).Delete(ctx, st.victim, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := waitDisagree(ctx, st.v, drift.Gone); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if !hasReason(st.v, drift.Gone) {
		t.Fatal("the frozen controller dropped the gone pod by itself: the fault was not reproduced")
	}
	return st
}

// assertDropped checks the live slices: no endpoint of the gone pod, the
// two pods that remain ready.
func (st *stranded) assertDropped(t *testing.T, ctx context.Context) {
	t.Helper()
	live, err := st.c.Typed.DiscoveryV1().EndpointSlices(st.ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, s := range live.Items {
		for _, e := range s.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Name == st.victim {
				t.Errorf("slice %s still lists the gone pod %s", s.Name, st.victim)
			}
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready++
			}
		}
	}
	if ready != 2 {
		t.Errorf("%d ready endpoints after the repair, want the 2 pods that remain", ready)
	}
}

// thaw lets the controller go and waits for it to agree.
func (st *stranded) thaw(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := st.frozen.Thaw(); err != nil {
		t.Fatal(err)
	}
	if took, err := agreement(ctx, st.v, 20*time.Second); err != nil {
		t.Fatalf("after the thaw the controller did not agree: %v", err)
	} else {
		t.Logf("the controller agreed %s after the thaw (the replacement pod added)", took)
	}
}

// writeBack writes the stale slices' endpoints over the live ones, as a
// controller with a stale pod informer does, and returns the highest
// resourceVersion written.
func writeBack(t *testing.T, ctx context.Context, st *stranded, stale []*discoveryv1.EndpointSlice) uint64 {
	t.Helper()
	var top uint64
	for _, s := range stale {
		live, err := st.c.Typed.DiscoveryV1().EndpointSlices(st.ns).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		live.Endpoints = s.Endpoints
		out, err := st.c.Typed.DiscoveryV1().EndpointSlices(st.ns).Update(ctx, live, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		top = max(top, resourceVersion(t, out.ResourceVersion))
	}
	return top
}

// newerThan reports whether a slice in the list is newer than rv: one
// written after it.
func newerThan(slices []*discoveryv1.EndpointSlice, rv uint64) bool {
	for _, s := range slices {
		if n, err := strconv.ParseUint(s.ResourceVersion, 10, 64); err == nil && n > rv {
			return true
		}
	}
	return false
}

func resourceVersion(t *testing.T, rv string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", rv, err)
	}
	return n
}

// actions counts the guard's events of an action.
func actions(c *event.Collector, action string) int {
	n := 0
	for _, e := range c.Events() {
		if e.Status == drift.Status && e.Action == action {
			n++
		}
	}
	return n
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
