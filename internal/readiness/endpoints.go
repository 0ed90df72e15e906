package readiness

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/cutover/cutover/internal/kube"
)

// EndpointsOptions say what a Service's endpoints must become.
type EndpointsOptions struct {
	Namespace, Service string
	// Selector picks the pods that must be, exactly, the Service's ready
	// endpoints: the new color after a switch.
	Selector labels.Selector
}

// WaitEndpoints watches a Service's EndpointSlices and the selected pods
// until every endpoint belongs to a selected pod and every ready selected
// pod is a ready endpoint (at least one). This is the moment traffic has
// moved: kube-proxy programs nodes from these slices.
func WaitEndpoints(ctx context.Context, c *kube.Clients, o EndpointsOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slices := informers.NewSharedInformerFactoryWithOptions(c.Typed, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.LabelSelector = discoveryv1.LabelServiceName + "=" + o.Service
		}))
	pods := podInformer(c, o)
	sl := slices.Discovery().V1().EndpointSlices().Informer()
	changed := make(chan struct{}, 1)
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { notify(changed) }, UpdateFunc: func(any, any) { notify(changed) }, DeleteFunc: func(any) { notify(changed) },
	}
	for _, inf := range []cache.SharedIndexInformer{sl, pods.Core().V1().Pods().Informer()} {
		if _, err := inf.AddEventHandler(poke); err != nil {
			return err
		}
	}
	slices.Start(ctx.Done())
	pods.Start(ctx.Done())
	defer func() {
		cancel() // Shutdown waits for the informers, which stop when ctx ends
		slices.Shutdown()
		pods.Shutdown()
	}()
	var last string
	for {
		ok, why := endpointsMatch(asObjects[*discoveryv1.EndpointSlice](sl.GetStore().List()),
			asObjects[*corev1.Pod](pods.Core().V1().Pods().Informer().GetStore().List()))
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s/%s endpoints: %w (%s)", o.Namespace, o.Service, ctx.Err(), last)
		case <-changed:
		}
	}
}

func podInformer(c *kube.Clients, o EndpointsOptions) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(c.Typed, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.Selector.String() }))
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
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
