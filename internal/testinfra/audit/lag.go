package audit

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Lag is one time the production Service's ready endpoints disagreed with
// one pod, as a watcher (kube-proxy, an ingress controller) sees both: the
// pod should be a ready endpoint (selected, ready, not terminating) and was
// not, or the other way round, until the EndpointSlices caught up.
type Lag struct {
	Pod   string
	Began time.Time
	Took  time.Duration
	// Open marks a disagreement that still lasted when the audit stopped.
	Open bool
}

// EndpointLags replays the timeline and returns every disagreement between
// a pod and the Service's ready endpoints, in the order they began. It is
// the measure of how far the EndpointSlice controller trails the pods: the
// endpoint drift guard's grace period is chosen from it.
func (r *Report) EndpointLags() []Lag {
	s := newState()
	open := map[string]time.Time{}
	var lags []Lag
	for _, e := range r.Entries {
		if e.Kind != KindSelector && e.Kind != KindEndpoints && e.Kind != KindPod {
			continue
		}
		s.apply(e)
		if e.Initial {
			continue // the state found at the start is judged with the first change
		}
		want := map[string]bool{}
		for _, p := range s.selected() {
			if p.Ready {
				want[p.Name] = true
			}
		}
		have := map[string]bool{}
		for _, name := range s.endpoints {
			have[name] = true
		}
		names := slices.Sorted(maps.Keys(open))
		for name := range want {
			names = append(names, name)
		}
		names = append(names, s.endpoints...)
		for _, name := range names {
			began, isOpen := open[name]
			switch agree := want[name] == have[name]; {
			case !agree && !isOpen:
				open[name] = e.Time
			case agree && isOpen:
				lags = append(lags, Lag{Pod: name, Began: began, Took: e.Time.Sub(began)})
				delete(open, name)
			}
		}
	}
	for name, began := range open {
		lags = append(lags, Lag{Pod: name, Began: began, Took: r.Stopped.Sub(began), Open: true})
	}
	slices.SortFunc(lags, func(a, b Lag) int {
		return cmp.Or(a.Began.Compare(b.Began), cmp.Compare(a.Pod, b.Pod))
	})
	return lags
}
