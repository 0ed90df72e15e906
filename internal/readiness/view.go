package readiness

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
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

// View is one namespace's pods (and, as asked, ReplicaSets, EndpointSlices
// and Services) kept by one reflector per kind. A run that judges pods
// more than once (is the color complete? does its test Service route to
// it? does production?) shares one View, so that:
//
//   - every judgement reads the same picture: two informers of the same
//     pods can disagree for a moment, and a pod one of them still shows
//     ready could pass a check the other would fail;
//   - the reflectors start once, before the run's first write: the API
//     server answers their first lists only once its watch cache is fresh,
//     tens of milliseconds that would otherwise fall on the switch.
//
// The View's reflectors retry a broken watch within RetryCap, where
// client-go's informers back off from 0.8 s doubling to 30 s (with as much
// again of jitter) and forget the back-off only after two quiet minutes:
// after an API server restart they can stay blind for tens of seconds,
// while the EndpointSlice controller writes stale slices that the drift
// guard must see at once. Those defaults protect an API server from
// thousands of controllers; a deploy watches one namespace for minutes.
type View struct {
	opts   ViewOptions
	cancel context.CancelFunc
	wg     sync.WaitGroup
	pods   *source
	sets   *source // nil unless asked
	slices *source // nil unless asked
	svcs   *source // nil unless asked

	mu      sync.Mutex
	changed chan struct{}        // closed and replaced on every change
	gone    map[string]time.Time // pod name: when the View saw it deleted
}

// RetryCap bounds the View's wait before it lists or watches again after
// a failure.
const RetryCap = time.Second

// goneMemory is how long the View remembers a deleted pod.
const goneMemory = 10 * time.Minute

// StartView starts a View; Stop ends it.
func StartView(ctx context.Context, c *kube.Clients, o ViewOptions) (*View, error) {
	ctx, cancel := context.WithCancel(ctx)
	v := &View{opts: o, cancel: cancel, changed: make(chan struct{}), gone: map[string]time.Time{}}
	ns := o.Namespace
	core, apps, disc := c.Typed.CoreV1(), c.Typed.AppsV1(), c.Typed.DiscoveryV1()
	v.pods = v.start(ctx, &corev1.Pod{}, listWatch(core.Pods(ns).List, core.Pods(ns).Watch))
	v.pods.onGone = v.sawGone
	if o.ReplicaSets {
		v.sets = v.start(ctx, &appsv1.ReplicaSet{}, listWatch(apps.ReplicaSets(ns).List, apps.ReplicaSets(ns).Watch))
	}
	if o.EndpointSlices {
		v.slices = v.start(ctx, &discoveryv1.EndpointSlice{}, listWatch(disc.EndpointSlices(ns).List, disc.EndpointSlices(ns).Watch))
	}
	if o.Services {
		v.svcs = v.start(ctx, &corev1.Service{}, listWatch(core.Services(ns).List, core.Services(ns).Watch))
	}
	return v, nil
}

// listWatch makes a ListWatch of a typed client's List and Watch.
func listWatch[L runtime.Object](list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return list(ctx, o)
		},
		WatchFuncWithContext: watchFn,
	}
}

// start runs a reflector of one kind into a new source until ctx ends.
func (v *View) start(ctx context.Context, obj runtime.Object, lw *cache.ListWatch) *source {
	s := newSource(v.notify)
	r := cache.NewReflectorWithOptions(lw, obj, s, cache.ReflectorOptions{
		Name: fmt.Sprintf("cutover view %s %T", v.opts.Namespace, obj),
		Backoff: &wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2,
			Steps: 10, Cap: RetryCap},
	})
	v.wg.Go(func() { r.RunWithContext(ctx) })
	return s
}

func (v *View) sources() []*source {
	var out []*source
	for _, s := range []*source{v.pods, v.sets, v.slices, v.svcs} {
		if s != nil {
			out = append(out, s)
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

// sawGone records that pods left the namespace.
func (v *View) sawGone(names []string) {
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	for name, at := range v.gone {
		if now.Sub(at) > goneMemory {
			delete(v.gone, name)
		}
	}
	for _, name := range names {
		v.gone[name] = now
	}
}

// GoneSince returns when the View saw the pod name deleted, if it did
// (and it has not been back since).
func (v *View) GoneSince(name string) (time.Time, bool) {
	if _, back, _ := v.pods.GetByKey(v.opts.Namespace + "/" + name); back {
		return time.Time{}, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	at, ok := v.gone[name]
	return at, ok
}

// Changed returns a channel closed at the next change. Take it before
// reading the View, so that no change between the read and the wait is
// missed.
func (v *View) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// Synced waits until every reflector has listed once.
func (v *View) Synced(ctx context.Context) error {
	for _, s := range v.sources() {
		select {
		case <-s.listed:
		case <-ctx.Done():
			return fmt.Errorf("watch pods in %s: %w (not listed yet)", v.opts.Namespace, ctx.Err())
		}
	}
	return nil
}

// Namespace is the namespace the View watches.
func (v *View) Namespace() string { return v.opts.Namespace }

// Stop ends the View and waits for its reflectors.
func (v *View) Stop() {
	v.cancel()
	v.wg.Wait()
}

// Pods returns the pods that sel selects (all with nil).
func (v *View) Pods(sel labels.Selector) []*corev1.Pod {
	pods := asObjects[*corev1.Pod](v.pods.List())
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
	return asObjects[*appsv1.ReplicaSet](v.sets.List())
}

// EndpointSlices returns a Service's EndpointSlices (none unless asked for).
func (v *View) EndpointSlices(service string) []*discoveryv1.EndpointSlice {
	if v.slices == nil {
		return nil
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range asObjects[*discoveryv1.EndpointSlice](v.slices.List()) {
		if s.Labels[discoveryv1.LabelServiceName] == service {
			out = append(out, s)
		}
	}
	return out
}

// Written returns when the View learned the slice as it is (at its
// resourceVersion): shortly after it was written, while the View's watch
// is live. Zero for a slice the View does not hold.
func (v *View) Written(s *discoveryv1.EndpointSlice) time.Time {
	if v.slices == nil {
		return time.Time{}
	}
	return v.slices.writtenAt(s.Namespace + "/" + s.Name)
}

// Service returns the named Service as last seen, or nil (also when the
// View does not watch Services).
func (v *View) Service(name string) *corev1.Service {
	if v.svcs == nil {
		return nil
	}
	obj, ok, err := v.svcs.GetByKey(v.opts.Namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	svc, _ := obj.(*corev1.Service)
	return svc
}

// WaitPods watches the pods of namespace ns that sel selects until cond
// holds for them.
func WaitPods(ctx context.Context, c *kube.Clients, ns string, sel labels.Selector, cond func([]*corev1.Pod) bool) error {
	v, err := StartView(ctx, c, ViewOptions{Namespace: ns})
	if err != nil {
		return err
	}
	defer v.Stop()
	if err := v.Synced(ctx); err != nil {
		return err
	}
	for {
		changed := v.Changed()
		if cond(v.Pods(sel)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watch pods in %s: %w", ns, context.Cause(ctx))
		case <-changed:
		}
	}
}
