package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
)

// Options configure an Auditor.
type Options struct {
	// Client reaches the cluster; required.
	Client kubernetes.Interface
	// Namespace and Service name the production Service; required.
	Namespace, Service string
	// PodSelector picks the app's pods, every color; default all pods of
	// the namespace.
	PodSelector labels.Selector
	// Router, if set, is the data plane router in front of the production
	// Service; its requests and endpoint changes join the timeline.
	Router *dataplane.Router
	// ColorKey is the production selector's key holding the blue/green
	// color; "" for a rolling update (invariant 2 is then not checked).
	ColorKey string
	// MinReady is the fewest ready endpoints production may have once it
	// had them (rolling: replicas - maxUnavailable); at least 1 is always
	// required.
	MinReady int
	// FailedRequestsCounted makes failed requests a count in the report,
	// not a violation (invariant 4): for a fault that outlasts what any
	// deploy tool can protect against, such as an EndpointSlice controller
	// frozen past the old pods' grace period.
	FailedRequestsCounted bool
	// CountedPods, if set, makes the failed answers of the pods it selects
	// a count, not a violation (invariant 4): a canary released to fail,
	// whose users see its errors until the abort. See Report.Exposure.
	CountedPods labels.Selector
}

// Auditor records production's timeline until Stop.
type Auditor struct {
	opts    Options
	started time.Time
	cancel  context.CancelFunc
	done    sync.WaitGroup
	// first request and endpoint change of the router that belong to
	// this audit
	outcomes0, history0 int

	mu        sync.Mutex
	entries   []Entry
	live      *state
	lastPod   map[string]Pod
	lastEps   []string
	epsSynced bool
	notify    chan struct{}
	report    *Report
	outages   []Window
}

// Start begins recording: it returns once the watches have listed the
// current state, which becomes the timeline's first (Initial) entries. ctx
// bounds that wait only; the watches run until Stop.
func Start(ctx context.Context, opts Options) (*Auditor, error) {
	if opts.Client == nil || opts.Namespace == "" || opts.Service == "" {
		return nil, errors.New("start audit: Client, Namespace and Service are required")
	}
	if opts.PodSelector == nil {
		opts.PodSelector = labels.Everything()
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &Auditor{opts: opts, cancel: cancel, live: newState(), lastPod: map[string]Pod{}, notify: make(chan struct{})}
	if opts.Router != nil {
		a.outcomes0, a.history0 = len(opts.Router.Outcomes()), len(opts.Router.History())
	}
	a.started = time.Now()
	informers := []cache.SharedIndexInformer{a.serviceInformer(), a.sliceInformer(), a.podInformer()}
	var synced []cache.InformerSynced
	for _, inf := range informers {
		a.done.Go(func() { inf.RunWithContext(runCtx) })
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		a.Stop()
		return nil, fmt.Errorf("start audit of %s/%s: %w", opts.Namespace, opts.Service, context.Cause(ctx))
	}
	a.slicesSynced(informers[1].GetStore())
	return a, nil
}

func (a *Auditor) listWatch(client cache.Getter, resource string, tweak func(*metav1.ListOptions)) *cache.ListWatch {
	return cache.NewFilteredListWatchFromClient(client, resource, a.opts.Namespace, tweak)
}

func (a *Auditor) informer(lw cache.ListerWatcher, example runtime.Object, handler cache.ResourceEventHandler) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{})
	_, _ = inf.AddEventHandler(handler) // fails only on a stopped informer
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if ctx.Err() == nil { // not Stop
			a.Mark(time.Now(), fmt.Sprintf("watch of %s failed, reconnecting: %v", r.TypeDescription(), err))
		}
	})
	return inf
}

func (a *Auditor) serviceInformer() cache.SharedIndexInformer {
	lw := a.listWatch(a.opts.Client.CoreV1().RESTClient(), "services", func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", a.opts.Service).String()
	})
	return a.informer(lw, &corev1.Service{}, cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { a.onService(obj, initial) },
		UpdateFunc: func(_, obj any) { a.onService(obj, false) },
		DeleteFunc: func(obj any) { a.onServiceDeleted(obj) },
	})
}

func (a *Auditor) sliceInformer() cache.SharedIndexInformer {
	lw := a.listWatch(a.opts.Client.DiscoveryV1().RESTClient(), "endpointslices", func(o *metav1.ListOptions) {
		o.LabelSelector = discoveryv1.LabelServiceName + "=" + a.opts.Service
	})
	var inf cache.SharedIndexInformer
	inf = a.informer(lw, &discoveryv1.EndpointSlice{}, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.onSlice(inf.GetStore(), obj) },
		UpdateFunc: func(_, obj any) { a.onSlice(inf.GetStore(), obj) },
		DeleteFunc: func(obj any) { a.onSlice(inf.GetStore(), obj) },
	})
	return inf
}

func (a *Auditor) podInformer() cache.SharedIndexInformer {
	lw := a.listWatch(a.opts.Client.CoreV1().RESTClient(), "pods", func(o *metav1.ListOptions) {
		o.LabelSelector = a.opts.PodSelector.String()
	})
	var inf cache.SharedIndexInformer
	inf = a.informer(lw, &corev1.Pod{}, cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { a.onPod(obj, initial, false, 0) },
		UpdateFunc: func(_, obj any) { a.onPod(obj, false, false, 0) },
		DeleteFunc: func(obj any) { a.onPod(obj, false, true, resourceVersion(inf.LastSyncResourceVersion())) },
	})
	return inf
}

func (a *Auditor) onService(obj any, initial bool) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	sel := maps.Clone(svc.Spec.Selector)
	if sel == nil {
		sel = map[string]string{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live.hasService && maps.Equal(a.live.selector, sel) {
		return
	}
	a.record(Entry{Time: time.Now(), RV: resourceVersion(svc.ResourceVersion), Kind: KindSelector, Initial: initial, Selector: sel})
}

func (a *Auditor) onServiceDeleted(obj any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rv := uint64(0)
	if svc, ok := obj.(*corev1.Service); ok {
		rv = resourceVersion(svc.ResourceVersion)
	}
	a.record(Entry{Time: time.Now(), RV: rv, Kind: KindSelector, Note: "service deleted"})
}

// onSlice records the ready endpoints of every slice in the store when
// they changed. Before the first list is complete the store holds only part
// of the slices, so Start records the first set.
func (a *Auditor) onSlice(store cache.Store, obj any) {
	rv := uint64(0)
	if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
		rv = resourceVersion(s.ResourceVersion)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.epsSynced {
		return
	}
	a.recordEndpoints(readyPods(store), rv, false)
}

// slicesSynced records the ready endpoints once the first list is in.
func (a *Auditor) slicesSynced(store cache.Store) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.epsSynced = true
	rv := uint64(0)
	for _, o := range store.List() {
		rv = max(rv, resourceVersion(o.(*discoveryv1.EndpointSlice).ResourceVersion))
	}
	a.recordEndpoints(readyPods(store), rv, true)
}

func (a *Auditor) recordEndpoints(pods []string, rv uint64, initial bool) {
	if a.lastEps != nil && slices.Equal(a.lastEps, pods) {
		return
	}
	a.lastEps = pods
	a.record(Entry{Time: time.Now(), RV: rv, Kind: KindEndpoints, Initial: initial, Endpoints: pods})
}

// readyPods lists the pods behind ready endpoints, as kube-proxy reads
// them: a missing ready condition means ready.
func readyPods(store cache.Store) []string {
	seen := map[string]bool{}
	for _, o := range store.List() {
		for _, e := range o.(*discoveryv1.EndpointSlice).Endpoints {
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || (e.Conditions.Ready != nil && !*e.Conditions.Ready) {
				continue
			}
			seen[e.TargetRef.Name] = true
		}
	}
	return append([]string{}, slices.Sorted(maps.Keys(seen))...)
}

// onPod records a pod's state when it changed. deleteRV stands in for the
// resourceVersion of a deletion the watch missed (the informer then hands
// over the last state it knew).
func (a *Auditor) onPod(obj any, initial, deleted bool, deleteRV uint64) {
	rv := uint64(0)
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, rv = d.Obj, deleteRV
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if rv == 0 {
		rv = resourceVersion(pod.ResourceVersion)
	}
	p := podOf(pod)
	p.Deleted = deleted
	a.mu.Lock()
	defer a.mu.Unlock()
	if last, ok := a.lastPod[p.Name]; ok && samePod(last, p) {
		return
	}
	a.lastPod[p.Name] = p
	a.record(Entry{Time: time.Now(), RV: rv, Kind: KindPod, Initial: initial, Pod: &p})
}

func podOf(pod *corev1.Pod) Pod {
	p := Pod{Name: pod.Name, Labels: maps.Clone(pod.Labels), Terminating: pod.DeletionTimestamp != nil}
	if len(pod.Spec.Containers) > 0 {
		p.Image = pod.Spec.Containers[0].Image
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			p.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return p
}

func samePod(a, b Pod) bool {
	return a.Ready == b.Ready && a.Terminating == b.Terminating && a.Deleted == b.Deleted &&
		a.Image == b.Image && maps.Equal(a.Labels, b.Labels)
}

// record appends e and wakes WaitProduction. Callers hold a.mu.
func (a *Auditor) record(e Entry) {
	if a.report != nil {
		return // stopped
	}
	a.entries = append(a.entries, e)
	a.live.apply(e)
	close(a.notify)
	a.notify = make(chan struct{})
}

// Request adds a request's outcome seen by a client outside the data plane
// (dataplane.LoadOptions.Record): users' traffic through a real node's
// kube-proxy, judged like the router's.
func (a *Auditor) Request(o dataplane.Outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.report != nil {
		return
	}
	a.entries = append(a.entries, Entry{Time: o.Time, Kind: KindRequest, Request: &o})
}

// Route adds what a router outside the data plane (the test bed's
// gateway) sends requests to: the pods, by name, from at on. Drain judges
// against them as against the data plane router's.
func (a *Auditor) Route(at time.Time, pods []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.report != nil {
		return
	}
	a.entries = append(a.entries, Entry{Time: at, Kind: KindRoute, Endpoints: slices.Clone(pods)})
}

// Outage notes that the router itself was down from from until to (a
// gateway killed and started again): requests it failed meanwhile without
// reaching a pod are counted in the report, not violations; a pod's own
// failed answer still is one.
func (a *Auditor) Outage(from, to time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.outages = append(a.outages, Window{From: from, To: to})
	a.entries = append(a.entries, Entry{Time: from, Kind: KindNote, Note: fmt.Sprintf("router down for %s", to.Sub(from).Round(time.Millisecond))})
}

// Mark adds a note to the timeline, e.g. a deploy's stage events or an
// injected fault, to read the invariants' breaches against.
func (a *Auditor) Mark(at time.Time, note string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.report != nil {
		return
	}
	a.entries = append(a.entries, Entry{Time: at, Kind: KindNote, Note: note})
}

// WaitProduction waits until production is as want says (invariant 3):
// the check runs now and after every change the watches deliver. It returns
// nil, or ctx's error with the last differences.
func (a *Auditor) WaitProduction(ctx context.Context, want Expect) error {
	for {
		a.mu.Lock()
		vs, ch := a.live.production(want, time.Now()), a.notify
		a.mu.Unlock()
		if len(vs) == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("production is not %s: %w: %s", want, context.Cause(ctx), joinViolations(vs))
		}
	}
}

// Stop ends the watches and returns the report, the router's requests and
// endpoint changes since Start included. Later calls return the same
// report.
func (a *Auditor) Stop() *Report {
	a.cancel()
	a.done.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.report != nil {
		return a.report
	}
	stopped := time.Now()
	entries := append(slices.Clone(a.entries), a.routerEntries()...)
	sortEntries(entries)
	a.report = &Report{Namespace: a.opts.Namespace, Service: a.opts.Service, ColorKey: a.opts.ColorKey,
		MinReady: a.opts.MinReady, FailedRequestsCounted: a.opts.FailedRequestsCounted, CountedPods: a.opts.CountedPods,
		Outages: slices.Clone(a.outages), Started: a.started, Stopped: stopped, Entries: entries}
	return a.report
}

// routerEntries turns the router's record since Start into entries.
func (a *Auditor) routerEntries() []Entry {
	r := a.opts.Router
	if r == nil {
		return nil
	}
	var out []Entry
	for _, o := range r.OutcomesSince(a.outcomes0) {
		out = append(out, Entry{Time: o.Time, Kind: KindRequest, Request: &o})
	}
	for _, c := range r.History()[a.history0:] {
		eps := make([]string, len(c.Endpoints))
		for i, e := range c.Endpoints {
			eps[i] = e.Pod
			if !e.Ready {
				eps[i] += "(terminating)"
			}
		}
		out = append(out, Entry{Time: c.Time, Kind: KindRoute, Endpoints: eps})
	}
	return out
}

func resourceVersion(rv string) uint64 {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func joinViolations(vs []Violation) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.Detail
	}
	return strings.Join(s, "; ")
}
