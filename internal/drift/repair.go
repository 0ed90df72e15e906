package drift

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/kube"
)

// The repair: when a resync did not bring a Service's slices back in line
// (the controller's own informers are stale, as for tens of seconds after
// an API server restart, or it is stuck), the Guard drops from the slices
// kube-proxy reads the ready endpoints of pods that no longer exist. Such a
// pod is dead (its object goes only once the kubelet saw its containers
// stop, or on a forced delete), so every connection sent to it fails. The
// endpoints of pods that still exist are left to the controller, even when
// they are terminating, not ready or no longer selected: those pods may
// still serve, and a Service stripped of them while the controller cannot
// add the new ones could be left with none. For the same reason the Guard
// never drops the last ready endpoint. The controller overwrites the slices
// once it catches up, with the same verdict.

// withoutGone returns a slice's endpoints without the ready ones of pods
// that are gone, and how many it dropped.
func withoutGone(s *discoveryv1.EndpointSlice, byName map[string]*corev1.Pod) ([]discoveryv1.Endpoint, int) {
	var out []discoveryv1.Endpoint
	for _, e := range s.Endpoints {
		if readyPodEndpoint(e) && byName[e.TargetRef.Name] == nil {
			continue
		}
		out = append(out, e)
	}
	return out, len(s.Endpoints) - len(out)
}

// readyPodEndpoint reports a ready endpoint of a pod (an unset ready
// condition means ready).
func readyPodEndpoint(e discoveryv1.Endpoint) bool {
	return e.TargetRef != nil && e.TargetRef.Kind == "Pod" && (e.Conditions.Ready == nil || *e.Conditions.Ready)
}

// Repair drops from a Service's slices the ready endpoints of pods that are
// gone, unless none would be left, and returns the slices it wrote. Each
// write carries the slice's resourceVersion: a slice that changed
// meanwhile (the controller caught up) is left alone.
func Repair(ctx context.Context, c *kube.Clients, svc *corev1.Service, slices []*discoveryv1.EndpointSlice, pods []*corev1.Pod) ([]string, error) {
	if svc == nil || len(svc.Spec.Selector) == 0 || svc.Spec.PublishNotReadyAddresses {
		return nil, nil
	}
	var wrote []string
	for _, fixed := range repairs(slices, pods) {
		_, err := c.Typed.DiscoveryV1().EndpointSlices(fixed.Namespace).Update(ctx, fixed, metav1.UpdateOptions{FieldManager: FieldManager})
		if err != nil {
			return wrote, fmt.Errorf("repair EndpointSlice %s/%s: %w", fixed.Namespace, fixed.Name, err)
		}
		wrote = append(wrote, fixed.Name)
	}
	return wrote, nil
}

// repairs returns repaired copies of the slices that list gone pods as
// ready endpoints; none when that would leave no ready endpoint.
func repairs(slices []*discoveryv1.EndpointSlice, pods []*corev1.Pod) []*discoveryv1.EndpointSlice {
	byName := map[string]*corev1.Pod{}
	for _, p := range pods {
		byName[p.Name] = p
	}
	var out []*discoveryv1.EndpointSlice
	ready, dropped := 0, 0
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if readyPodEndpoint(e) {
				ready++
			}
		}
		eps, n := withoutGone(s, byName)
		if n == 0 {
			continue
		}
		dropped += n
		fixed := s.DeepCopy()
		fixed.Endpoints = eps
		out = append(out, fixed)
	}
	if dropped == ready {
		return nil
	}
	return out
}
