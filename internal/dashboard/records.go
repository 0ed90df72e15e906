package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/release"
)

// Labels of release records, as package release writes them (names.go):
// the selector matches the records and never their objects' ConfigMaps,
// which lack the app label.
const (
	labelApp       = "cutover.dev/app"
	recordSelector = "app.kubernetes.io/managed-by=cutover," + labelApp
)

// subscriberBuffer is how many changes a slow subscriber may lag behind
// before it misses some.
const subscriberBuffer = 64

// records is the namespace's release records by app, newest first, kept
// current by a watch on their ConfigMaps. On each change of an app's
// records it reads them again through release.Store (which alone decodes
// them) and tells its subscribers the app's name.
type records struct {
	ns    string
	store *release.Store
	log   *slog.Logger

	mu    sync.RWMutex
	apps  map[string][]*release.Record
	dirty map[string]bool
	subs  map[chan<- change]struct{}
	wake  chan struct{}
}

// change names an app whose records changed.
type change struct{ ns, app string }

// watchRecords lists and watches the records of clients' namespace, and
// returns once every app's records are read. The watch ends with ctx.
func watchRecords(ctx context.Context, clients *kube.Clients, log *slog.Logger) (*records, error) {
	v := &records{
		ns: clients.Namespace, store: release.NewStore(clients.Typed, clients.Namespace), log: log,
		apps: map[string][]*release.Record{}, dirty: map[string]bool{}, subs: map[chan<- change]struct{}{},
		wake: make(chan struct{}, 1),
	}
	// One list first, so that an unreachable cluster or a missing
	// permission fails here, not in the informer's retries.
	probe := metav1.ListOptions{LabelSelector: recordSelector, Limit: 1}
	if _, err := clients.Typed.CoreV1().ConfigMaps(clients.Namespace).List(ctx, probe); err != nil {
		return nil, fmt.Errorf("list release records in namespace %s: %w", clients.Namespace, err)
	}
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: recordListWatch(clients),
		ObjectType:    &corev1.ConfigMap{},
		Transform:     nameAndLabels,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    v.changed,
			UpdateFunc: func(_, obj any) { v.changed(obj) },
			DeleteFunc: v.changed,
		},
	})
	go informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil, fmt.Errorf("watch release records in namespace %s: %w", clients.Namespace, cmp.Or(context.Cause(ctx), ctx.Err()))
	}
	if err := v.refreshDirty(ctx); err != nil {
		return nil, err
	}
	go v.run(ctx)
	return v, nil
}

// recordListWatch lists and watches the ConfigMaps of release records.
func recordListWatch(clients *kube.Clients) *cache.ListWatch {
	cms := clients.Typed.CoreV1().ConfigMaps(clients.Namespace)
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = recordSelector
			return cms.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = recordSelector
			return cms.Watch(ctx, o)
		},
	}
}

// nameAndLabels keeps of a record's ConfigMap what the watch needs to
// tell which app changed: the records themselves are read through
// release.Store, so the informer's cache need not hold their data (nor
// their managedFields) a second time.
func nameAndLabels(obj any) (any, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return obj, nil
	}
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cm.Name, Namespace: cm.Namespace, UID: cm.UID,
		ResourceVersion: cm.ResourceVersion, Labels: cm.Labels}}, nil
}

// changed marks the app of a record's ConfigMap to be read again.
func (v *records) changed(obj any) {
	if gone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = gone.Obj
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok || cm.Labels[labelApp] == "" {
		return
	}
	v.mu.Lock()
	v.dirty[cm.Labels[labelApp]] = true
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default: // already woken
	}
}

// run reads the records of changed apps again until ctx ends.
func (v *records) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.wake:
		}
		if err := v.refreshDirty(ctx); err != nil && ctx.Err() == nil {
			v.log.WarnContext(ctx, "dashboard: read release records", "error", err)
		}
	}
}

// refreshDirty reads the records of every changed app, and tells the
// subscribers.
func (v *records) refreshDirty(ctx context.Context) error {
	v.mu.Lock()
	apps := make([]string, 0, len(v.dirty))
	for app := range v.dirty {
		apps = append(apps, app)
	}
	clear(v.dirty)
	v.mu.Unlock()
	var errs []error
	for _, app := range apps {
		if err := v.refresh(ctx, app); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("read the records of %d apps: %w", len(errs), errs[0])
	}
	return nil
}

// refresh reads app's records again.
func (v *records) refresh(ctx context.Context, app string) error {
	list, err := v.store.List(ctx, app)
	if err != nil {
		return fmt.Errorf("app %s: %w", app, err)
	}
	for _, r := range list {
		r.Detach() // shown, never updated: the engine reads its own
	}
	v.mu.Lock()
	if len(list) == 0 {
		delete(v.apps, app)
	} else {
		v.apps[app] = list
	}
	for ch := range v.subs {
		select {
		case ch <- change{ns: v.ns, app: app}:
		default: // a subscriber that far behind misses a change
		}
	}
	v.mu.Unlock()
	return nil
}

// app returns app's records, newest first; nil when it has none. The
// records are shared: read them only.
func (v *records) app(app string) []*release.Record {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.apps[app]
}

// latest returns the newest record of every app, by app name.
func (v *records) latest() []*release.Record {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]*release.Record, 0, len(v.apps))
	for _, list := range v.apps {
		out = append(out, list[0])
	}
	slices.SortFunc(out, func(a, b *release.Record) int { return cmp.Compare(a.App, b.App) })
	return out
}

// names returns the apps that have records, sorted.
func (v *records) names() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]string, 0, len(v.apps))
	for app := range v.apps {
		out = append(out, app)
	}
	slices.Sort(out)
	return out
}

// subscribe sends each change of an app's records to ch (which several
// namespaces' records may share) until the returned function is called.
// A change that finds ch full is dropped.
func (v *records) subscribe(ch chan<- change) func() {
	v.mu.Lock()
	v.subs[ch] = struct{}{}
	v.mu.Unlock()
	return func() {
		v.mu.Lock()
		delete(v.subs, ch)
		v.mu.Unlock()
	}
}
