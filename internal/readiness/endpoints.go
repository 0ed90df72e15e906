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
		ok, why := endpointsMatch(v.EndpointSlices(o.Service), v.Pods(o.Selector))
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

// endpointsMatch compares the slices' endpoints with the selected pods.
func endpointsMatch(slices []*discoveryv1.EndpointSlice, pods []*corev1.Pod) (bool, string) {
	selected, readyPods := map[string]bool{}, 0
	for _, p := range pods {
		selected[p.Name] = true
		if p.DeletionTimestamp == nil && PodReady(p) {
			readyPods++
		}
	}
	if readyPods == 0 {
		return false, "no ready pod selected"
	}
	ready := 0
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if e.TargetRef == nil || !selected[e.TargetRef.Name] {
				return false, "endpoints still include other pods"
			}
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				ready++
			}
		}
	}
	if ready != readyPods {
		return false, fmt.Sprintf("%d of %d ready pods are ready endpoints", ready, readyPods)
	}
	return true, ""
}
