package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Options configure a data plane.
type Options struct {
	// Config reaches the cluster; required.
	Config *rest.Config
	// Namespace limits the pods watched; "" watches all namespaces.
	Namespace string
	// Logger receives backend and router events; default discards.
	Logger *slog.Logger
	// MaxGrace caps how long a backend outlives a pod that disappeared
	// without a deletionTimestamp ever being seen (otherwise its
	// terminationGracePeriodSeconds, default 30s). Zero means no cap. It
	// does not shorten a seen deletionTimestamp.
	MaxGrace time.Duration
	// BackendWait is how long a router waits for the backend of a ready
	// endpoint whose pod the pod watch has not delivered yet (the
	// EndpointSlice watch can be ahead of it); default 2s.
	BackendWait time.Duration
	// PodAddresses makes each backend listen on its pod's IP and first
	// container port, where a real gateway reaches it by the pod's
	// EndpointSlice; it needs the pod range local
	// (testbed.Cluster.ReachablePods). Backends then start once their pod
	// runs, before it is Ready, as a real app listens before its
	// readiness probe passes. kwok frees a deleted pod's IP when the pod
	// goes and hands it to the next pod, of any namespace, at once: give
	// pods served at their addresses a terminate-after of at least their
	// grace period, so that the IP stays theirs while they serve.
	PodAddresses bool
}

// DataPlane runs a backend for every Ready pod and routers for Services.
type DataPlane struct {
	client  kubernetes.Interface
	opts    Options
	log     *slog.Logger
	reg     *registry
	cancel  context.CancelFunc
	stopped chan struct{}

	mu      sync.Mutex
	routers []*Router
	closed  bool
	once    sync.Once
}

// Start watches pods and starts backends for the Ready ones. It returns once
// the pods that were Ready at start have backends; ctx bounds that wait
// only. Call Close to stop everything.
func Start(ctx context.Context, opts Options) (*DataPlane, error) {
	if opts.Config == nil {
		return nil, errors.New("start data plane: no rest config")
	}
	client, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("start data plane: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BackendWait <= 0 {
		opts.BackendWait = 2 * time.Second
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &DataPlane{
		client: client, opts: opts, log: opts.Logger, reg: newRegistry(),
		cancel: cancel, stopped: make(chan struct{}),
	}
	informer := cache.NewSharedIndexInformer(
		cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "pods", opts.Namespace, fields.Everything()),
		&corev1.Pod{}, 0, cache.Indexers{})
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.onPod(obj) },
		UpdateFunc: func(_, obj any) { d.onPod(obj) },
		DeleteFunc: d.onPodDeleted,
	}); err != nil {
		cancel()
		return nil, fmt.Errorf("start data plane: %w", err)
	}
	go func() {
		defer close(d.stopped)
		informer.RunWithContext(runCtx)
	}()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		d.Close()
		return nil, fmt.Errorf("start data plane: watch pods: %w", context.Cause(ctx))
	}
	return d, nil
}

// Close stops the routers, the pod watch and every backend at once. It is
// safe to call more than once.
func (d *DataPlane) Close() {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		routers := d.routers
		d.routers = nil
		d.mu.Unlock()
		for _, r := range routers {
			r.Close()
		}
		d.cancel()
		<-d.stopped
		d.reg.stopAll()
	})
}

// Backends lists every backend started so far, stopped ones included,
// oldest first.
func (d *DataPlane) Backends() []Backend { return d.reg.list() }

// WaitBackends waits until cond holds for the backends, checking it now and
// after every change (a backend starting, being scheduled to stop, or
// stopping).
func (d *DataPlane) WaitBackends(ctx context.Context, cond func([]Backend) bool) error {
	return d.reg.wait(ctx, cond)
}

func (d *DataPlane) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	b := d.reg.get(pod.UID)
	if b == nil {
		if !podReady(pod) && !(d.opts.PodAddresses && podStarted(pod)) {
			return
		}
		var err error
		if b, err = startBackend(pod, d.log); err != nil {
			d.log.Error("start backend", "namespace", pod.Namespace, "pod", pod.Name, "err", err)
			return
		}
		d.reg.add(b)
		d.servePodAddr(b, pod)
		d.log.Debug("backend started", "namespace", pod.Namespace, "pod", pod.Name, "url", b.url)
	} else {
		b.setAnswer(answerFor(pod))
	}
	if pod.DeletionTimestamp != nil {
		d.scheduleDeletion(b, pod, "deletionTimestamp")
	}
}

// servePodAddr makes a new backend serve at its pod's address too.
func (d *DataPlane) servePodAddr(b *backend, pod *corev1.Pod) {
	addr := podAddr(pod)
	if !d.opts.PodAddresses || addr == "" {
		return
	}
	if err := b.listenAt(addr); err != nil {
		d.log.Error("serve at the pod's address", "namespace", pod.Namespace, "pod", pod.Name, "addr", addr, "err", err)
	}
}

func (d *DataPlane) onPodDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	b := d.reg.get(pod.UID)
	if b == nil {
		return
	}
	if pod.DeletionTimestamp != nil {
		d.scheduleDeletion(b, pod, "deleted, deletionTimestamp")
		return
	}
	d.scheduleStop(b, pod, time.Now().Add(d.grace(pod)), true, "deleted without deletionTimestamp")
}

// scheduleDeletion schedules the stop of a terminating pod's backend at
// its deletionTimestamp. A removal seen first (the watch missed the graceful
// deletion, e.g. while relisting after an API server restart, and caught
// the pod between the grace-0 update and its removal) carries the
// timestamp moved back to when deletion began: the graceful deletion's
// timestamp was that plus the grace period, which the pod's
// terminationGracePeriodSeconds estimates, as for a pod that vanished.
func (d *DataPlane) scheduleDeletion(b *backend, pod *corev1.Pod, why string) {
	at := pod.DeletionTimestamp.Time
	if removal(pod) {
		at, why = at.Add(d.grace(pod)), why+", grace 0 seen first"
	}
	d.scheduleStop(b, pod, at, removal(pod), why)
}

// removal reports whether the pod's deletion has grace period 0: the
// kubelet (here kwok) removing the object once its containers are gone,
// which moves the deletionTimestamp back to when deletion began. That is
// no reason to stop serving earlier than the deletionTimestamp first seen;
// a shortened non-zero grace period is.
func removal(pod *corev1.Pod) bool {
	g := pod.DeletionGracePeriodSeconds
	return g != nil && *g == 0
}

// deref is a grace period for the log: -1 when unset.
func deref(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// grace is how long a pod deleted without a seen deletionTimestamp keeps
// its backend.
func (d *DataPlane) grace(pod *corev1.Pod) time.Duration {
	g := 30 * time.Second
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil {
		g = time.Duration(*s) * time.Second
	}
	if d.opts.MaxGrace > 0 && g > d.opts.MaxGrace {
		g = d.opts.MaxGrace
	}
	return g
}

// scheduleStop stops b at the given time, or earlier than already
// scheduled; with ifUnscheduled only if no stop is scheduled yet.
func (d *DataPlane) scheduleStop(b *backend, pod *corev1.Pod, at time.Time, ifUnscheduled bool, why string) {
	if b.stopAt(at, ifUnscheduled, func() { d.reg.changed() }) {
		d.log.Debug("backend stop scheduled", "namespace", b.namespace, "pod", b.pod, "at", at.Format("15:04:05.000"),
			"reason", why, "resourceVersion", pod.ResourceVersion, "deletionGracePeriodSeconds", deref(pod.DeletionGracePeriodSeconds))
		d.reg.changed()
	}
}

func (d *DataPlane) addRouter(r *Router) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("data plane closed")
	}
	d.routers = append(d.routers, r)
	return nil
}

// podStarted reports a pod whose containers run at its IP, ready or not:
// served at its address (Options.PodAddresses), its app listens before its
// readiness passes, as a real app does, so that a gateway that follows the
// EndpointSlices faster than the data plane follows the pods never finds
// a ready endpoint that refuses it.
func podStarted(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "" && pod.DeletionTimestamp == nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
