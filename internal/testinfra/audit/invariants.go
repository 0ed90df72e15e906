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

// Invariant names one of the zero-downtime invariants.
type Invariant string

// The invariants, numbered as in the package documentation.
const (
	ReadyEndpoints   Invariant = "ready-endpoints"    // 1
	ReadyColor       Invariant = "ready-color"        // 2
	Production       Invariant = "production"         // 3
	NoFailedRequests Invariant = "no-failed-requests" // 4
)

// Violation is one breach of an invariant.
type Violation struct {
	Invariant Invariant
	// Time is when it began.
	Time   time.Time
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("[%s] %s: %s", v.Invariant, stamp(v.Time), v.Detail)
}

// Violations judges the timeline against invariants 1, 2 and 4; invariant 3
// needs the expected release, see CheckProduction.
func (r *Report) Violations() []Violation {
	var out []Violation
	out = append(out, checkReadyEndpoints(r)...)
	out = append(out, checkReadyColor(r)...)
	if !r.FailedRequestsCounted {
		out = append(out, checkRequests(r.judgedRequests())...)
	}
	slices.SortStableFunc(out, compareViolations)
	return out
}

// floor is the fewest ready endpoints production may have.
func (r *Report) floor() int { return max(r.MinReady, 1) }

// checkReadyEndpoints finds the dips of production's ready endpoints below
// the floor, once it has been reached.
func checkReadyEndpoints(r *Report) []Violation {
	floor := r.floor()
	var out []Violation
	armed := false
	var dip *endpointDip
	for _, e := range r.Entries {
		if e.Kind != KindEndpoints {
			continue
		}
		n := len(e.Endpoints)
		switch {
		case n >= floor:
			armed = true
			if dip != nil {
				out = append(out, dip.violation(floor, e.Time))
				dip = nil
			}
		case armed && dip == nil:
			dip = &endpointDip{start: e.Time, min: n, at: e.Endpoints}
		case dip != nil && n < dip.min:
			dip.min, dip.at = n, e.Endpoints
		}
	}
	if dip != nil {
		out = append(out, dip.violation(floor, time.Time{}))
	}
	if !armed {
		out = append(out, Violation{Invariant: ReadyEndpoints, Time: r.Started,
			Detail: fmt.Sprintf("production never had %d ready endpoints", floor)})
	}
	return out
}

// endpointDip is a stretch of time with too few ready endpoints.
type endpointDip struct {
	start time.Time
	min   int
	at    []string
}

func (d *endpointDip) violation(floor int, end time.Time) Violation {
	lasted := "until the end of the audit"
	if !end.IsZero() {
		lasted = "for " + end.Sub(d.start).Round(time.Millisecond).String()
	}
	return Violation{Invariant: ReadyEndpoints, Time: d.start, Detail: fmt.Sprintf(
		"production had %d ready endpoints (want at least %d) %s; fewest: [%s]",
		d.min, floor, lasted, strings.Join(d.at, " "))}
}

// checkReadyColor replays selector and pod changes in resourceVersion order
// and checks, at every change of the selector, the pods it then selects.
func checkReadyColor(r *Report) []Violation {
	if r.ColorKey == "" {
		return nil
	}
	var out []Violation
	s := newState()
	for _, e := range byRV(r.Entries) {
		prev := s.selector
		s.apply(e)
		if e.Kind != KindSelector || e.Initial || e.Selector == nil || maps.Equal(prev, e.Selector) {
			continue
		}
		if why := s.unfit(); why != "" {
			out = append(out, Violation{Invariant: ReadyColor, Time: e.Time, Detail: fmt.Sprintf(
				"selector changed to %s (%s=%s) at resourceVersion %d %s",
				labels.Set(e.Selector), r.ColorKey, e.Selector[r.ColorKey], e.RV, why)})
		}
	}
	return out
}

// checkRequests reports failed requests, one violation per burst: failures
// less than a second apart.
func checkRequests(es []Entry) []Violation {
	const gap = time.Second
	var out []Violation
	var b *burst
	for _, e := range es {
		if e.Kind != KindRequest || !e.Request.Failed() {
			continue
		}
		if b != nil && e.Time.Sub(b.last) > gap {
			out = append(out, b.violation())
			b = nil
		}
		if b == nil {
			b = &burst{first: e.Time, why: map[string]int{}}
		}
		b.add(e.Time, e.Request)
	}
	if b != nil {
		out = append(out, b.violation())
	}
	return out
}

// burst is a run of failed requests.
type burst struct {
	first, last time.Time
	n           int
	why         map[string]int
}

func (b *burst) add(t time.Time, o *dataplane.Outcome) {
	b.n++
	b.last = t
	b.why[fmt.Sprintf("status %d pod %q: %s", o.Status, o.Pod, o.Err)]++
}

func (b *burst) violation() Violation {
	var why []string
	for _, k := range slices.Sorted(maps.Keys(b.why)) {
		why = append(why, fmt.Sprintf("%dx %s", b.why[k], k))
	}
	return Violation{Invariant: NoFailedRequests, Time: b.first, Detail: fmt.Sprintf(
		"%d failed requests over %s: %s", b.n, b.last.Sub(b.first).Round(time.Millisecond), strings.Join(why, "; "))}
}

// Expect is the release production must serve (invariant 3).
type Expect struct {
	// Image every selected pod runs, e.g. tomcat:7.
	Image string
	// Replicas is how many pods production selects, all Ready.
	Replicas int
}

func (x Expect) String() string { return fmt.Sprintf("%d ready pods of %s", x.Replicas, x.Image) }

// CheckProduction checks the state at the end of the timeline against want
// (invariant 3).
func (r *Report) CheckProduction(want Expect) []Violation {
	s := newState()
	for _, e := range r.Entries {
		s.apply(e)
	}
	return s.production(want, r.Stopped)
}

// state is production as the entries so far describe it.
type state struct {
	hasService bool
	selector   map[string]string
	endpoints  []string
	pods       map[string]Pod
}

func newState() *state { return &state{pods: map[string]Pod{}} }

func (s *state) apply(e Entry) {
	switch e.Kind {
	case KindSelector:
		s.hasService, s.selector = e.Selector != nil, e.Selector
	case KindEndpoints:
		s.endpoints = e.Endpoints
	case KindPod:
		if e.Pod.Deleted {
			delete(s.pods, e.Pod.Name)
		} else {
			s.pods[e.Pod.Name] = *e.Pod
		}
	}
}

// selected returns the live pods the selector picks, by name.
func (s *state) selected() []Pod {
	if !s.hasService || len(s.selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(s.selector)
	var out []Pod
	for _, name := range slices.Sorted(maps.Keys(s.pods)) {
		p := s.pods[name]
		if p.live() && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// unfit says why the selected pods may not take production, or "".
func (s *state) unfit() string {
	pods := s.selected()
	if len(pods) == 0 {
		return "while it selected no pod"
	}
	var unready []string
	for _, p := range pods {
		if !p.Ready {
			unready = append(unready, p.Name)
		}
	}
	if len(unready) > 0 {
		return fmt.Sprintf("while %d of its %d pods were not ready: %s", len(unready), len(pods), strings.Join(unready, " "))
	}
	return mixedTemplates(pods)
}

// mixedTemplates says how pods run more than one pod template (their
// Deployment's ReplicaSets differ by the pod-template-hash label), or "".
func mixedTemplates(pods []Pod) string {
	byHash := map[string][]string{}
	for _, p := range pods {
		h := p.Labels["pod-template-hash"]
		byHash[h] = append(byHash[h], fmt.Sprintf("%s (%s)", p.Name, p.Image))
	}
	if len(byHash) < 2 {
		return ""
	}
	var groups []string
	for _, h := range slices.Sorted(maps.Keys(byHash)) {
		groups = append(groups, fmt.Sprintf("template %s: %s", h, strings.Join(byHash[h], " ")))
	}
	return fmt.Sprintf("while its pods ran %d templates: %s", len(byHash), strings.Join(groups, "; "))
}

// production lists how the state differs from want.
func (s *state) production(want Expect, at time.Time) []Violation {
	v := func(format string, args ...any) Violation {
		return Violation{Invariant: Production, Time: at, Detail: fmt.Sprintf(format, args...)}
	}
	if !s.hasService {
		return []Violation{v("production service does not exist")}
	}
	pods := s.selected()
	var out []Violation
	if len(pods) != want.Replicas {
		out = append(out, v("production selects %d pods, want %s: %s", len(pods), want, podNames(pods)))
	}
	var ready []string
	for _, p := range pods {
		switch {
		case !p.Ready:
			out = append(out, v("pod %s is not ready", p.Name))
		case p.Image != want.Image:
			out = append(out, v("pod %s runs %s, want %s", p.Name, p.Image, want.Image))
		default:
			ready = append(ready, p.Name)
		}
	}
	if len(out) == 0 && !slices.Equal(s.endpoints, ready) {
		out = append(out, v("ready endpoints [%s] are not the selected pods [%s]",
			strings.Join(s.endpoints, " "), strings.Join(ready, " ")))
	}
	return out
}

func podNames(pods []Pod) string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return "[" + strings.Join(names, " ") + "]"
}
