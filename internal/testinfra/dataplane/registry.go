package dataplane

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// registry holds the backends by pod UID, stopped ones included, so that a
// router can tell a stopped backend from one not started yet.
type registry struct {
	mu     sync.Mutex
	byUID  map[types.UID]*backend
	order  []*backend
	notify chan struct{} // closed and replaced on every change
}

func newRegistry() *registry {
	return &registry{byUID: map[types.UID]*backend{}, notify: make(chan struct{})}
}

func (r *registry) add(b *backend) {
	r.mu.Lock()
	r.byUID[b.uid] = b
	r.order = append(r.order, b)
	r.mu.Unlock()
	r.changed()
}

func (r *registry) get(uid types.UID) *backend {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byUID[uid]
}

// find returns the backend of the pod named by an endpoint's targetRef: by
// UID when the reference has one, else the newest backend of that name.
func (r *registry) find(namespace, pod string, uid types.UID) *backend {
	r.mu.Lock()
	defer r.mu.Unlock()
	if uid != "" {
		return r.byUID[uid]
	}
	for i := len(r.order) - 1; i >= 0; i-- {
		if b := r.order[i]; b.namespace == namespace && b.pod == pod {
			return b
		}
	}
	return nil
}

// await is find, waiting up to timeout for the backend to start.
func (r *registry) await(ctx context.Context, namespace, pod string, uid types.UID, timeout time.Duration) *backend {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ch := r.notify
		r.mu.Unlock()
		if b := r.find(namespace, pod, uid); b != nil {
			return b
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

func (r *registry) changed() {
	r.mu.Lock()
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
}

func (r *registry) list() []Backend {
	r.mu.Lock()
	order := append([]*backend(nil), r.order...)
	r.mu.Unlock()
	out := make([]Backend, len(order))
	for i, b := range order {
		out[i] = b.info()
	}
	return out
}

func (r *registry) wait(ctx context.Context, cond func([]Backend) bool) error {
	for {
		r.mu.Lock()
		ch := r.notify
		r.mu.Unlock()
		if cond(r.list()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (r *registry) stopAll() {
	r.mu.Lock()
	order := append([]*backend(nil), r.order...)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range order {
		wg.Go(b.stop)
	}
	wg.Wait()
	r.changed()
}
