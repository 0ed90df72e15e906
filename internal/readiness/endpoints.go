package readiness

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/kube"
)

// EndpointsOptions say what a Service's endpoints must become.
type EndpointsOptions struct {
	Namespace, Service string
	// Selector picks the pods that must be, exactly, the Service's ready
	// endpoints: the new color after a switch.
	Selector labels.Selector
	// View is the run's View of the namespace, with EndpointSlices; nil
	// starts one for this wait.
	View *View
	// OthersNotReady lets the slices keep endpoints of pods the selector
	// does not pick, as long as none is ready: pods leaving (a canary
	// scaled away), which take no new connections.
	OthersNotReady bool
}

// WaitEndpoints watches a Service's EndpointSlices and the selected pods
// until every endpoint belongs to a selected pod and every ready selected
// pod is a ready endpoint (at least one). This is the moment traffic has
// moved: kube-proxy programs nodes from these slices.
func WaitEndpoints(ctx context.Context, c *kube.Clients, o EndpointsOptions) error {
	v := o.View
	if v == nil {
		var err error
		if v, err = StartView(ctx, c, ViewOptions{Namespace: o.Namespace, EndpointSlices: true}); err != nil {
			return err
		}
		defer v.Stop()
	}
	if err := v.Synced(ctx); err != nil {
		return err
	}
	for {
		changed := v.Changed()
		ok, why := endpointsMatch(v.EndpointSlices(o.Service), v.Pods(o.Selector), o.OthersNotReady)
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s/%s endpoints: %w (%s)", o.Namespace, o.Service, ctx.Err(), why)
		case <-changed:
		}
	}
}

// endpointsMatch compares the slices' endpoints with the selected pods, pod
// by pod: every endpoint is a selected pod's, and the ready endpoints are
// exactly the selected pods that are ready and not terminating. Counting
// would not do: a slice that still shows a terminating pod ready and not
// yet a new one has as many ready endpoints as there are ready pods.
func endpointsMatch(slices []*discoveryv1.EndpointSlice, pods []*corev1.Pod, othersNotReady bool) (bool, string) {
	selected, want := map[string]bool{}, map[string]bool{}
	for _, p := range pods {
		selected[p.Name] = true
		if p.DeletionTimestamp == nil && PodReady(p) {
			want[p.Name] = true
		}
	}
	if len(want) == 0 {
		return false, "no ready pod selected"
	}
	ready := map[string]bool{}
	for _, s := range slices {
		for _, e := range s.Endpoints {
			isReady := e.Conditions.Ready != nil && *e.Conditions.Ready
			if e.TargetRef == nil || !selected[e.TargetRef.Name] {
				if othersNotReady && !isReady {
					continue
				}
				return false, "endpoints still include other pods"
			}
			if isReady {
				if !want[e.TargetRef.Name] {
					return false, "pod " + e.TargetRef.Name + " is a ready endpoint but not a ready pod"
				}
				ready[e.TargetRef.Name] = true
			}
		}
	}
	if len(ready) != len(want) {
		return false, fmt.Sprintf("%d of %d ready pods are ready endpoints", len(ready), len(want))
	}
	return true, ""
}
