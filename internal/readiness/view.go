package readiness

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/cutover/cutover/internal/kube"
)

// ViewOptions say what a View watches besides a namespace's pods.
type ViewOptions struct {
	Namespace      string
	ReplicaSets    bool // needed to follow Deployments
	EndpointSlices bool // needed to confirm where a Service sends traffic
	Services       bool // needed to read a Service's live selector (the drift guard)
}

// View is one namespace's pods (and, as asked, ReplicaSets and
// EndpointSlices) kept by one set of informers. A run that judges pods
// more than once (is the color complete? does its test Service route to
// it? does production?) shares one View, so that:
//
//   - every judgement reads the same picture: two informers of the same
//     pods can disagree for a moment, and a pod one of them still shows
//     ready could pass a check the other would fail;
//   - the informers start once, before the run's first write: the API
//     server answers their first lists only once its watch cache is fresh,
//     tens of milliseconds that would otherwise fall on the switch.
type View struct {
	opts   ViewOptions
	cancel context.CancelFunc
	f      informers.SharedInformerFactory
	pods   cache.SharedIndexInformer
	sets   cache.SharedIndexInformer // nil unless asked
	slices cache.SharedIndexInformer // nil unless asked
	svcs   cache.SharedIndexInformer // nil unless asked

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
}

// StartView starts a View; Stop ends it.
func StartView(ctx context.Context, c *kube.Clients, o ViewOptions) (*View, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := informers.NewSharedInformerFactoryWithOptions(c.Typed, 0, informers.WithNamespace(o.Namespace))
	v := &View{opts: o, cancel: cancel, f: f, pods: f.Core().V1().Pods().Informer(), changed: make(chan struct{})}
	if o.ReplicaSets {
		v.sets = f.Apps().V1().ReplicaSets().Informer()
	}
	if o.EndpointSlices {
		v.slices = f.Discovery().V1().EndpointSlices().Informer()
	}
	if o.Services {
		v.svcs = f.Core().V1().Services().Informer()
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { v.notify() },
		UpdateFunc: func(any, any) { v.notify() },
		DeleteFunc: func(any) { v.notify() },
	}
	for _, inf := range v.informers() {
		if _, err := inf.AddEventHandler(h); err != nil {
			cancel()
			return nil, fmt.Errorf("watch pods in %s: %w", o.Namespace, err)
		}
	}
	f.Start(ctx.Done())
	return v, nil
}

func (v *View) informers() []cache.SharedIndexInformer {
	out := []cache.SharedIndexInformer{v.pods}
	for _, inf := range []cache.SharedIndexInformer{v.sets, v.slices, v.svcs} {
		if inf != nil {
			out = append(out, inf)
		}
	}
	return out
}

func (v *View) notify() {
	v.mu.Lock()
	close(v.changed)
	v.changed = make(chan struct{})
	v.mu.Unlock()
}

// Changed returns a channel closed at the next change. Take it before
// reading the View, so that no change between the read and the wait is
// missed.
func (v *View) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// Synced waits until every informer holds a complete list.
func (v *View) Synced(ctx context.Context) error {
	var checks []cache.DoneChecker
	for _, inf := range v.informers() {
		checks = append(checks, inf.HasSyncedChecker())
	}
	if !cache.WaitFor(ctx, "", checks...) {
		return fmt.Errorf("watch pods in %s: %w (informers not synced)", v.opts.Namespace, ctx.Err())
	}
	return nil
}

// Namespace is the namespace the View watches.
func (v *View) Namespace() string { return v.opts.Namespace }

// Stop ends the View and waits for its informers.
func (v *View) Stop() {
	v.cancel() // Shutdown waits for the informers, which stop when ctx ends
	v.f.Shutdown()
}

// Pods returns the pods that sel selects (all with nil).
func (v *View) Pods(sel labels.Selector) []*corev1.Pod {
	pods := asObjects[*corev1.Pod](v.pods.GetStore().List())
	if sel == nil {
		return pods
	}
	out := pods[:0]
	for _, p := range pods {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// ReplicaSets returns the namespace's ReplicaSets (none unless asked for).
func (v *View) ReplicaSets() []*appsv1.ReplicaSet {
	if v.sets == nil {
		return nil
	}
	return asObjects[*appsv1.ReplicaSet](v.sets.GetStore().List())
}

// EndpointSlices returns a Service's EndpointSlices (none unless asked for).
func (v *View) EndpointSlices(service string) []*discoveryv1.EndpointSlice {
	if v.slices == nil {
		return nil
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range asObjects[*discoveryv1.EndpointSlice](v.slices.GetStore().List()) {
		if s.Labels[discoveryv1.LabelServiceName] == service {
			out = append(out, s)
		}
	}
	return out
}

// Service returns the named Service as last seen, or nil (also when the
// View does not watch Services).
func (v *View) Service(name string) *corev1.Service {
	if v.svcs == nil {
		return nil
	}
	obj, ok, err := v.svcs.GetStore().GetByKey(v.opts.Namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	svc, _ := obj.(*corev1.Service)
	return svc
}
