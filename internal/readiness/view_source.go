package readiness

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// source is the store one of a View's reflectors fills: it tells the View
// of every change, and of the pods that left (onGone), whether a watch
// event or a new list after a broken watch said so.
type source struct {
	cache.Store
	changed func()
	onGone  func(names []string) // nil: not a store of pods

	listedOnce sync.Once
	listed     chan struct{} // closed at the first list

	mu      sync.Mutex
	written map[string]time.Time // key: when the source learned its resourceVersion
}

func newSource(changed func()) *source {
	return &source{Store: cache.NewStore(cache.MetaNamespaceKeyFunc), changed: changed, listed: make(chan struct{}),
		written: map[string]time.Time{}}
}

func (s *source) Add(obj any) error {
	s.learn(obj, time.Now())
	err := s.Store.Add(obj)
	s.changed()
	return err
}

func (s *source) Update(obj any) error {
	s.learn(obj, time.Now())
	err := s.Store.Update(obj)
	s.changed()
	return err
}

// learn records when the source first held obj at its resourceVersion,
// unless it already did.
func (s *source) learn(obj any, now time.Time) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	if old, ok, _ := s.Store.GetByKey(key); ok {
		if om, err := meta.Accessor(old); err == nil && om.GetResourceVersion() == m.GetResourceVersion() {
			return
		}
	}
	s.mu.Lock()
	s.written[key] = now
	s.mu.Unlock()
}

// writtenAt is when the source learned the object of key as it is now:
// shortly after it was written while the watch is live.
func (s *source) writtenAt(key string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written[key]
}

func (s *source) Delete(obj any) error {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		s.mu.Lock()
		delete(s.written, key)
		s.mu.Unlock()
	}
	err := s.Store.Delete(obj)
	if s.onGone != nil {
		if key, kerr := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); kerr == nil {
			_, name, _ := cache.SplitMetaNamespaceKey(key)
			s.onGone([]string{name})
		}
	}
	s.changed()
	return err
}

// Replace takes a new list: objects missing from it are gone.
func (s *source) Replace(list []any, rv string) error {
	now := time.Now()
	kept := map[string]bool{}
	for _, obj := range list {
		s.learn(obj, now)
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			kept[key] = true
		}
	}
	var gone []string
	for _, key := range s.Store.ListKeys() {
		if !kept[key] {
			_, name, _ := cache.SplitMetaNamespaceKey(key)
			gone = append(gone, name)
			s.mu.Lock()
			delete(s.written, key)
			s.mu.Unlock()
		}
	}
	err := s.Store.Replace(list, rv)
	if len(gone) > 0 && s.onGone != nil {
		s.onGone(gone)
	}
	s.listedOnce.Do(func() { close(s.listed) })
	s.changed()
	return err
}
