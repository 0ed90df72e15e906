package readiness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
)

// Target is an object to wait for.
type Target struct {
	Resource  schema.GroupVersionResource
	Namespace string // "" when cluster-scoped
	Name      string
	Ref       string // how events name it, e.g. Deployment/ns/name
}

// Options configure Wait.
type Options struct {
	Sink  event.Sink
	Stage string // stage name put on events
	// IgnoreTerminating lets a Deployment be done while its old pods are
	// still terminating. Right for a blue/green idle color, which serves
	// no one yet: terminating pods are not ready, so no endpoint sends them
	// new connections after the switch. Wrong for a rolling update, where
	// the old pods still hold production's connections.
	IgnoreTerminating bool
}

// FailedError says an object will not become ready by waiting longer.
type FailedError struct {
	Object string
	Reason string
}

func (e *FailedError) Error() string { return fmt.Sprintf("%s failed: %s", e.Object, e.Reason) }

// NotReadyError is returned when ctx ends first; it lists what was not ready.
type NotReadyError struct {
	Pending []string
	Err     error
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("%v; not ready: %s", e.Err, strings.Join(e.Pending, "; "))
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// Wait watches targets until every one is Current, one fails (*FailedError),
// or ctx ends (*NotReadyError wrapping ctx's error).
func Wait(ctx context.Context, c *kube.Clients, targets []Target, opts Options) error {
	if len(targets) == 0 {
		return nil
	}
	if opts.Sink == nil {
		opts.Sink = event.Discard
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &waiter{opts: opts, targets: map[string]Target{}, live: map[string]*unstructured.Unstructured{},
		states: map[string]state{}, updates: make(chan update, 256), poke: make(chan struct{}, 1)}
	for _, t := range targets {
		w.targets[key(t.Namespace, t.Resource.GroupResource().String(), t.Name)] = t
	}
	w.watchTargets(ctx, c, targets)
	if err := w.watchPods(ctx, c, targets); err != nil {
		return err
	}
	return w.loop(ctx)
}

type waiter struct {
	opts    Options
	targets map[string]Target
	live    map[string]*unstructured.Unstructured
	states  map[string]state
	updates chan update
	poke    chan struct{}
	pods    map[string]podStores // by namespace
}

type podStores struct{ pods, sets cache.Store }

// update is a new copy of a watched object and the resource it came from.
type update struct {
	resource schema.GroupResource
	obj      *unstructured.Unstructured
}

func key(ns, gr, name string) string { return ns + "/" + gr + "/" + name }

func (w *waiter) loop(ctx context.Context) error {
	for {
		if err := w.evaluate(); err != nil || w.allCurrent() {
			return err
		}
		select {
		case <-ctx.Done():
			return &NotReadyError{Pending: w.pending(), Err: ctx.Err()}
		case u := <-w.updates:
			w.record(u)
		case <-w.poke:
		}
	}
}

// record keeps the newest copy of a target and reports its state on change.
func (w *waiter) record(u update) {
	k := key(u.obj.GetNamespace(), u.resource.String(), u.obj.GetName())
	t, ok := w.targets[k]
	if !ok {
		return
	}
	w.live[k] = u.obj
	st := compute(u.obj, w.opts.IgnoreTerminating)
	if prev, seen := w.states[k]; seen && prev.equal(st) {
		return
	}
	w.states[k] = st
	event.Stamp(w.opts.Sink, event.Event{Type: event.ObjectStatus, Stage: w.opts.Stage, Object: t.Ref,
		Status: string(st.Status), Message: st.Message, Counts: st.Counts})
}

// evaluate fails on a Failed target or a broken pod of a rolling Deployment.
func (w *waiter) evaluate() error {
	for k, st := range w.states {
		t := w.targets[k]
		switch st.Status {
		case status.FailedStatus:
			return &FailedError{Object: t.Ref, Reason: w.failureReason(t, w.live[k], st.Message)}
		case status.NotFoundStatus, status.TerminatingStatus:
			return &FailedError{Object: t.Ref, Reason: "deleted while waiting"}
		}
		u := w.live[k]
		if st.Status == status.CurrentStatus || u.GetKind() != "Deployment" {
			continue
		}
		if s, ok := w.pods[t.Namespace]; ok {
			if msg := deploymentProblem(u, asObjects[*appsv1.ReplicaSet](s.sets.List()), asObjects[*corev1.Pod](s.pods.List())); msg != "" {
				return &FailedError{Object: t.Ref, Reason: msg}
			}
		}
	}
	return nil
}

// failureReason adds, for a Deployment, the pods that kept it from progressing.
func (w *waiter) failureReason(t Target, u *unstructured.Unstructured, msg string) string {
	s, ok := w.pods[t.Namespace]
	if !ok || u.GetKind() != "Deployment" {
		return msg
	}
	stuck := notReadyPods(u, asObjects[*appsv1.ReplicaSet](s.sets.List()), asObjects[*corev1.Pod](s.pods.List()))
	if len(stuck) == 0 {
		return msg
	}
	return fmt.Sprintf("%s; pods not ready: %s", msg, strings.Join(stuck, ", "))
}

func (w *waiter) allCurrent() bool {
	for k := range w.targets {
		if w.states[k].Status != status.CurrentStatus {
			return false
		}
	}
	return true
}

func (w *waiter) pending() []string {
	var out []string
	for k, t := range w.targets {
		st, ok := w.states[k]
		switch {
		case !ok:
			out = append(out, t.Ref+": not observed")
		case st.Status != status.CurrentStatus:
			out = append(out, fmt.Sprintf("%s: %s", t.Ref, st.Message))
		}
	}
	sort.Strings(out)
	return out
}

// watchTargets starts one list+watch per resource and namespace.
func (w *waiter) watchTargets(ctx context.Context, c *kube.Clients, targets []Target) {
	type group struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	names := map[group][]string{}
	for _, t := range targets {
		g := group{t.Resource, t.Namespace}
		names[g] = append(names[g], t.Name)
	}
	for g, ns := range names {
		var sel string
		if len(ns) == 1 {
			sel = fields.OneTermEqualSelector("metadata.name", ns[0]).String()
		}
		go w.watchResource(ctx, c, g.gvr, g.ns, sel)
	}
}

func (w *waiter) watchResource(ctx context.Context, c *kube.Clients, gvr schema.GroupVersionResource, ns, sel string) {
	lw := c.ListWatch(gvr, ns, sel)
	send := func(o any) {
		if u, ok := o.(*unstructured.Unstructured); ok {
			select {
			case w.updates <- update{gvr.GroupResource(), u}:
			case <-ctx.Done():
			}
		}
	}
	// The initial list arrives as Added events, in order, before later
	// changes: no precondition, so no state is reported out of order.
	_, _ = watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil,
		func(e watch.Event) (bool, error) {
			if e.Type == watch.Deleted {
				if u, ok := e.Object.(*unstructured.Unstructured); ok {
					u = u.DeepCopy()
					u.SetDeletionTimestamp(&metav1.Time{})
					send(u)
				}
				return false, nil
			}
			send(e.Object)
			return false, nil
		})
}

// watchPods starts pod and ReplicaSet informers in each namespace that holds
// a Deployment target.
func (w *waiter) watchPods(ctx context.Context, c *kube.Clients, targets []Target) error {
	w.pods = map[string]podStores{}
	for _, t := range targets {
		if t.Resource.Resource != "deployments" || t.Resource.Group != "apps" {
			continue
		}
		if _, ok := w.pods[t.Namespace]; ok {
			continue
		}
		f := informers.NewSharedInformerFactoryWithOptions(c.Typed, 0, informers.WithNamespace(t.Namespace))
		pods, sets := f.Core().V1().Pods().Informer(), f.Apps().V1().ReplicaSets().Informer()
		h := cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { w.wake() },
			UpdateFunc: func(any, any) { w.wake() },
			DeleteFunc: func(any) { w.wake() },
		}
		for _, inf := range []cache.SharedIndexInformer{pods, sets} {
			if _, err := inf.AddEventHandler(h); err != nil {
				return fmt.Errorf("watch pods: %w", err)
			}
		}
		f.Start(ctx.Done())
		w.pods[t.Namespace] = podStores{pods: pods.GetStore(), sets: sets.GetStore()}
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("sync %v informer in %s: %w", typ, t.Namespace, errors.Join(ctx.Err(), errors.New("cache not synced")))
			}
		}
		go func() { <-ctx.Done(); f.Shutdown() }()
	}
	return nil
}

func (w *waiter) wake() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}
