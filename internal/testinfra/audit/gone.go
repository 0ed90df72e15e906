package audit

import (
	"slices"
	"time"
)

// GoneEndpointTime replays the timeline and returns how long the
// production Service listed, as a ready endpoint, a pod whose object was
// already gone: time in which a data plane following the EndpointSlices
// could send connections to a pod that no longer runs. It is the harm the
// endpoint drift guard's repair exists to end.
func (r *Report) GoneEndpointTime() time.Duration {
	gone := map[string]bool{}
	var endpoints []string
	var total time.Duration
	var since time.Time // when the current exposure began; zero: none
	for _, e := range r.Entries {
		switch e.Kind {
		case KindPod:
			gone[e.Pod.Name] = e.Pod.Deleted
		case KindEndpoints:
			endpoints = e.Endpoints
		default:
			continue
		}
		exposed := slices.ContainsFunc(endpoints, func(n string) bool { return gone[n] })
		switch {
		case exposed && since.IsZero():
			since = e.Time
		case !exposed && !since.IsZero():
			total += e.Time.Sub(since)
			since = time.Time{}
		}
	}
	if !since.IsZero() {
		total += r.Stopped.Sub(since)
	}
	return total
}
