package dashboard

import "sync"

// onceEach holds a value per key, built by its first get: later gets of
// the key wait for that one and share its value. A build that failed is
// forgotten, so the next get tries again.
type onceEach[V any] struct {
	mu sync.Mutex
	m  map[string]*onceEntry[V]
}

type onceEntry[V any] struct {
	once sync.Once
	v    V
	err  error
	made bool // the build succeeded
}

// get returns key's value, making it with build on the first call.
func (o *onceEach[V]) get(key string, build func() (V, error)) (V, error) {
	o.mu.Lock()
	if o.m == nil {
		o.m = map[string]*onceEntry[V]{}
	}
	e, ok := o.m[key]
	if !ok {
		e = &onceEntry[V]{}
		o.m[key] = e
	}
	o.mu.Unlock()
	e.once.Do(func() {
		e.v, e.err = build()
		e.made = e.err == nil
	})
	if e.err != nil {
		o.mu.Lock()
		if o.m[key] == e {
			delete(o.m, key)
		}
		o.mu.Unlock()
	}
	return e.v, e.err
}

// drop forgets each made value for which gone returns true.
func (o *onceEach[V]) drop(gone func(V) bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, e := range o.m {
		if e.made && gone(e.v) {
			delete(o.m, k)
		}
	}
}

// len is how many keys are held.
func (o *onceEach[V]) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.m)
}
