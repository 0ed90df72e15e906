package audit

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
)

// Invariants of a release that exposes some of the app's pods to users
// apart from the others: a canary. They are asked for explicitly (the
// moment a canary must be drained is known only once the deploy has
// said so), see CheckDrained and CheckRoutedReady.
const (
	// Drained (5): from the moment a deploy confirmed that a set of pods
	// takes no more traffic, no request reaches them.
	Drained Invariant = "drained"
	// RoutedReady (6): every pod behind a ready endpoint of the Service
	// became Ready: the Service never routes to a pod that never got
	// ready (a canary that crash-loops or never passes its probe).
	RoutedReady Invariant = "routed-ready"
	// WeightedReady (7): a gateway's route never gives weight to a
	// Service with no ready endpoint. Checked by who watches the route
	// (the chaos suite's gateway scenarios).
	WeightedReady Invariant = "weighted-ready"
)

// podLabels maps every pod the timeline saw to its labels. A pod's labels
// do not change in the releases audited (its Deployment's selector labels
// and pod-template-hash), so its last entry's are its labels.
func (r *Report) podLabels() map[string]labels.Set {
	out := map[string]labels.Set{}
	for _, e := range r.Entries {
		if e.Kind == KindPod {
			out[e.Pod.Name] = e.Pod.Labels
		}
	}
	return out
}

// matcher reports whether a pod, by name, is one of those pods selects.
// A pod the timeline never saw matches nothing.
func (r *Report) matcher(pods labels.Selector) func(name string) bool {
	known := r.podLabels()
	return func(name string) bool {
		l, ok := known[name]
		return ok && pods.Matches(l)
	}
}

// judgedRequests are the entries invariant 4 judges: every request,
// except the failed answers that pods selected by CountedPods gave
// themselves (a status from the backend, no router error), and the
// requests the router failed without reaching a pod while it was down
// (Outages). The first are what users of a bad canary see until it is
// aborted; the second, what a gateway's own crash costs, which no deploy
// tool can prevent. A router error at a counted pod, or any other failure,
// is still a violation.
func (r *Report) judgedRequests() []Entry {
	counted := func(string) bool { return false }
	if r.CountedPods != nil {
		counted = r.matcher(r.CountedPods)
	}
	var out []Entry
	for _, e := range r.Entries {
		if e.Kind == KindRequest && e.Request.Failed() && (e.Request.Err == "" && counted(e.Request.Pod) || r.inOutage(*e.Request)) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// inOutage reports whether a request that reached no pod was in flight
// while the router was down: sent then, or before and cut off by it.
func (r *Report) inOutage(o dataplane.Outcome) bool {
	end := o.Time.Add(o.Duration)
	return o.Pod == "" && slices.ContainsFunc(r.Outages, func(w Window) bool { return w.Holds(o.Time) || w.Holds(end) })
}

// Drain is what reached a set of pods from the moment a deploy confirmed
// that they take no more traffic (invariant 5). The router follows the
// EndpointSlices through a watch of its own, as kube-proxy does without
// a sync period: the revision a deploy confirmed reaches it a moment
// before or after the deploy saw it (about a millisecond either way on
// the test bed; up to a quarter of a second after with the race detector
// on a loaded machine). What reached the pods in that moment is the data plane's
// lag; once the router routes to none of them, nothing may reach them.
type Drain struct {
	// Confirmed is when the deploy confirmed it.
	Confirmed time.Time
	// Applied is when, from Confirmed on, the router first sent to none of
	// the pods: Confirmed itself if it already did, else its first change
	// of endpoints after that leaves them all out. Zero if it still sent to
	// them when the audit stopped.
	Applied time.Time
	// Lagged are the requests received in [Confirmed, Applied) that the
	// router sent to the pods: the data plane's lag.
	Lagged []dataplane.Outcome
	// Late are those received from Applied on that reached the pods, or all
	// from Confirmed on if the router never left them: the breach.
	Late []dataplane.Outcome
}

// Drain returns what reached the pods that pods selects from confirmed on.
func (r *Report) Drain(pods labels.Selector, confirmed time.Time) Drain {
	match := r.matcher(pods)
	d := Drain{Confirmed: confirmed}
	routed := false  // the router's endpoints include one of the pods
	reached := false // the replay reached confirmed
	for _, e := range r.Entries {
		if !reached && !e.Time.Before(confirmed) {
			reached = true
			if !routed {
				d.Applied = confirmed
			}
		}
		switch e.Kind {
		case KindRoute:
			routed = slices.ContainsFunc(e.Endpoints, func(ep string) bool { return match(strings.TrimSuffix(ep, "(terminating)")) })
			if reached && !routed && d.Applied.IsZero() {
				d.Applied = e.Time
			}
		case KindRequest:
			switch {
			case !reached || !match(e.Request.Pod):
			case d.Applied.IsZero() || e.Time.Before(d.Applied):
				d.Lagged = append(d.Lagged, *e.Request)
			default:
				d.Late = append(d.Late, *e.Request)
			}
		}
	}
	if !reached && !routed {
		d.Applied = confirmed
	}
	if d.Applied.IsZero() { // the router never left them: nothing was lag
		d.Late, d.Lagged = append(d.Lagged, d.Late...), nil
	}
	return d
}

// Lag is how long after the confirmation the router left the pods; 0 if
// it already had, or never did.
func (d Drain) Lag() time.Duration {
	if d.Applied.IsZero() {
		return 0
	}
	return d.Applied.Sub(d.Confirmed)
}

func (d Drain) String() string {
	switch {
	case d.Applied.IsZero():
		return fmt.Sprintf("%d requests reached them after the confirmation; the router never left them", len(d.Late))
	case d.Lag() == 0:
		return fmt.Sprintf("the router had left them by the confirmation; %d requests reached them after", len(d.Late))
	}
	return fmt.Sprintf("the router left them %s after the confirmation, %d requests reaching them meanwhile (%d failed); %d after",
		d.Lag().Round(10*time.Microsecond), len(d.Lagged), failed(d.Lagged), len(d.Late))
}

func failed(os []dataplane.Outcome) int {
	n := 0
	for _, o := range os {
		if o.Failed() {
			n++
		}
	}
	return n
}

// CheckDrained checks invariant 5 for the pods that pods selects (e.g. a
// canary) from confirmed on (e.g. when cutover confirmed its abort): the
// router leaves them, and no request reaches them once it has. Whether
// the EndpointSlices had really left them at confirmed is for the caller
// to check against the API (the Report only knows when its watches
// delivered them).
func (r *Report) CheckDrained(pods labels.Selector, confirmed time.Time) []Violation {
	d := r.Drain(pods, confirmed)
	if len(d.Late) == 0 {
		return nil
	}
	byPod := map[string]int{}
	for _, o := range d.Late {
		byPod[o.Pod]++
	}
	var where []string
	for _, p := range slices.Sorted(maps.Keys(byPod)) {
		where = append(where, fmt.Sprintf("%dx %s", byPod[p], p))
	}
	first := d.Late[0].Time
	from := "the router never left them"
	if !d.Applied.IsZero() {
		from = fmt.Sprintf("the router left them at %s, %s after the confirmation", stamp(d.Applied), d.Lag().Round(10*time.Microsecond))
	}
	return []Violation{{Invariant: Drained, Time: first, Detail: fmt.Sprintf(
		"%d requests reached pods of %s after they were confirmed drained at %s (%s): %s",
		len(d.Late), pods, stamp(confirmed), from, strings.Join(where, ", "))}}
}

// Exposure counts the users' requests while some pods (a canary) took
// traffic: from the first request routed to one of them until Until.
type Exposure struct {
	From, Until time.Time
	// Total and Failed count every request received in [From, Until).
	Total, Failed int
	// ToPods and FailedAtPods count those of them routed to the pods.
	ToPods, FailedAtPods int
}

func (x Exposure) String() string {
	if x.From.IsZero() {
		return "no request reached them"
	}
	return fmt.Sprintf("%d of %d requests failed over %s (%d of the %d routed to them)", x.Failed, x.Total,
		x.Until.Sub(x.From).Round(time.Millisecond), x.FailedAtPods, x.ToPods)
}

// Exposure counts the requests received from the first one routed to a
// pod that pods selects until until (zero: the end of the audit).
func (r *Report) Exposure(pods labels.Selector, until time.Time) Exposure {
	if until.IsZero() {
		until = r.Stopped
	}
	match := r.matcher(pods)
	x := Exposure{Until: until}
	for _, e := range r.Entries {
		if e.Kind != KindRequest || !e.Time.Before(until) {
			continue
		}
		o := e.Request
		mine := match(o.Pod)
		if x.From.IsZero() && !mine {
			continue
		}
		if x.From.IsZero() {
			x.From = e.Time
		}
		x.Total++
		if o.Failed() {
			x.Failed++
		}
		if mine {
			x.ToPods++
			if o.Failed() {
				x.FailedAtPods++
			}
		}
	}
	return x
}

// CheckRoutedReady checks invariant 6: every pod the Service listed as a
// ready endpoint is Ready in some entry of the timeline. It does not ask
// that the pod was Ready first: after an API server restart the
// Auditor's pod watch may relist past a pod's change to Ready, and
// ordering readiness before routing is the EndpointSlice controller's
// part, not the deploy's. For the same reason a pod the pod watch never
// saw at all is not judged.
func (r *Report) CheckRoutedReady() []Violation {
	wasReady := map[string]bool{}
	for _, e := range r.Entries {
		if e.Kind == KindPod {
			wasReady[e.Pod.Name] = wasReady[e.Pod.Name] || e.Pod.Ready
		}
	}
	first := map[string]time.Time{}
	for _, e := range r.Entries {
		if e.Kind != KindEndpoints {
			continue
		}
		for _, p := range e.Endpoints {
			ready, known := wasReady[p]
			if _, seen := first[p]; !seen && known && !ready {
				first[p] = e.Time
			}
		}
	}
	var out []Violation
	for _, p := range slices.Sorted(maps.Keys(first)) {
		out = append(out, Violation{Invariant: RoutedReady, Time: first[p], Detail: fmt.Sprintf(
			"pod %s was a ready endpoint from %s and never Ready", p, stamp(first[p]))})
	}
	slices.SortStableFunc(out, compareViolations)
	return out
}
