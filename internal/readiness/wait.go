package readiness

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
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
	// FromPods lets a Deployment be done as soon as its pods show it (see
	// doneFromPods), tens of milliseconds before the controllers have
	// written its status. It ignores terminating pods, so it is for a
	// blue/green idle color only, like IgnoreTerminating.
	FromPods bool
	// View, if set, is the run's View of its namespace (with
	// ReplicaSets): Wait reads pods there instead of starting its own.
	View *View
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
		states: map[string]state{}, updates: make(chan update, 256), poke: make(chan struct{}, 1), fromPods: map[string]bool{}}
	for _, t := range targets {
		w.targets[key(t.Namespace, t.Resource.GroupResource().String(), t.Name)] = t
	}
	w.watchTargets(ctx, c, targets)
	stop, err := w.watchPods(ctx, c, targets)
	defer stop()
	if err != nil {
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
	views   map[string]*View // by namespace, for Deployments' pods
	// fromPods marks targets whose pods show them done (Options.FromPods)
	// while their status may still lag.
	fromPods map[string]bool
}

// update is a new copy of a watched object and the resource it came from.
type update struct {
	resource schema.GroupResource
	obj      *unstructured.Unstructured
}

func key(ns, gr, name string) string { return ns + "/" + gr + "/" + name }

func (w *waiter) loop(ctx context.Context) error {
	for {
		w.judgePods()
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
	if !w.fromPods[k] { // its pods showed it done already: a lagging status is no news
		w.report(t, st)
	}
}

func (w *waiter) report(t Target, st state) {
	event.Stamp(w.opts.Sink, event.Event{Type: event.ObjectStatus, Stage: w.opts.Stage, Object: t.Ref,
		Status: string(st.Status), Message: st.Message, Counts: st.Counts})
}

// judgePods marks, with Options.FromPods, the Deployments whose pods show
// them done, and reports each when it turns so.
func (w *waiter) judgePods() {
	if !w.opts.FromPods {
		return
	}
	for k, u := range w.live {
		t := w.targets[k]
		v, ok := w.views[t.Namespace]
		if !ok || u.GetKind() != "Deployment" || w.states[k].Status == status.CurrentStatus {
			continue
		}
		counts, done := doneFromPods(u, v.ReplicaSets(), v.Pods(nil))
		switch {
		case done && !w.fromPods[k]:
			w.report(t, state{Status: status.CurrentStatus, Message: fromPodsMessage(counts), Counts: counts})
		case !done && w.fromPods[k]: // a pod went away or turned unready
			w.report(t, w.states[k])
		}
		w.fromPods[k] = done
	}
}

// evaluate fails on a Failed target or a broken pod of a rolling Deployment.
func (w *waiter) evaluate() error {
	for k, st := range w.states {
		t := w.targets[k]
		if w.fromPods[k] {
			continue
		}
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
		if v, ok := w.views[t.Namespace]; ok {
			if msg := deploymentProblem(u, v.ReplicaSets(), v.Pods(nil)); msg != "" {
				return &FailedError{Object: t.Ref, Reason: msg}
			}
		}
	}
	return nil
}

// failureReason adds, for a Deployment, the pods that kept it from progressing.
func (w *waiter) failureReason(t Target, u *unstructured.Unstructured, msg string) string {
	v, ok := w.views[t.Namespace]
	if !ok || u.GetKind() != "Deployment" {
		return msg
	}
	stuck := notReadyPods(u, v.ReplicaSets(), v.Pods(nil))
	if len(stuck) == 0 {
		return msg
	}
	return fmt.Sprintf("%s; pods not ready: %s", msg, strings.Join(stuck, ", "))
}

func (w *waiter) allCurrent() bool {
	for k := range w.targets {
		if w.states[k].Status != status.CurrentStatus && !w.fromPods[k] {
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

// watchPods follows the pods and ReplicaSets of each namespace that holds
// a Deployment target, through opts.View where it covers the namespace.
// The function it returns stops the Views it started.
func (w *waiter) watchPods(ctx context.Context, c *kube.Clients, targets []Target) (func(), error) {
	w.views = map[string]*View{}
	var started []*View
	stop := func() {
		for _, v := range started {
			v.Stop()
		}
	}
	for _, t := range targets {
		if t.Resource.Resource != "deployments" || t.Resource.Group != "apps" || w.views[t.Namespace] != nil {
			continue
		}
		v := w.opts.View
		if v == nil || v.opts.Namespace != t.Namespace || v.sets == nil {
			var err error
			if v, err = StartView(ctx, c, ViewOptions{Namespace: t.Namespace, ReplicaSets: true}); err != nil {
				return stop, err
			}
			started = append(started, v)
		}
		w.views[t.Namespace] = v
		if err := v.Synced(ctx); err != nil {
			return stop, err
		}
		go w.follow(ctx, v)
	}
	return stop, nil
}

// follow wakes the loop at every change of v until ctx ends.
func (w *waiter) follow(ctx context.Context, v *View) {
	for {
		select {
		case <-v.Changed():
			w.wake()
		case <-ctx.Done():
			return
		}
	}
}

func (w *waiter) wake() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}
