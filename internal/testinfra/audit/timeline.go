package audit

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
)

// Kind says what an Entry records.
type Kind string

// Entry kinds.
const (
	// KindSelector is the production Service's selector, nil once the
	// Service is gone.
	KindSelector Kind = "selector"
	// KindEndpoints is the set of pods behind the Service's ready endpoints.
	KindEndpoints Kind = "endpoints"
	// KindPod is one pod's state.
	KindPod Kind = "pod"
	// KindRoute is the endpoints the data plane router sent requests to.
	KindRoute Kind = "route"
	// KindRequest is one request through the router.
	KindRequest Kind = "request"
	// KindNote is a remark: Auditor.Mark, a watch error.
	KindNote Kind = "note"
)

// Entry is one change in the timeline.
type Entry struct {
	Time time.Time
	// RV is the resourceVersion of the API change (selector, endpoints,
	// pod); 0 for other kinds or when unknown.
	RV   uint64
	Kind Kind
	// Initial marks the state found when the Auditor started, not a change.
	Initial bool
	// Selector is the Service's selector (KindSelector); nil when the
	// Service does not exist.
	Selector map[string]string
	// Endpoints are pod names (KindEndpoints: ready ones, sorted; KindRoute:
	// as the router had them, terminating ones marked).
	Endpoints []string
	Pod       *Pod               // KindPod
	Request   *dataplane.Outcome // KindRequest
	Note      string
}

// Pod is what the Auditor knows of a pod.
type Pod struct {
	Name        string
	Labels      map[string]string
	Image       string
	Ready       bool
	Terminating bool // has a deletionTimestamp
	Deleted     bool // the object is gone
}

// live reports whether the pod still counts as a member of its Deployment:
// neither terminating nor gone.
func (p Pod) live() bool { return !p.Terminating && !p.Deleted }

func (p Pod) String() string {
	state := "unready"
	switch {
	case p.Deleted:
		state = "deleted"
	case p.Terminating:
		state = "terminating"
	case p.Ready:
		state = "ready"
	}
	return fmt.Sprintf("%s %s %s {%s}", p.Name, state, p.Image, labels.Set(p.Labels))
}

// Report is the timeline of one audit.
type Report struct {
	Namespace, Service string
	ColorKey           string
	MinReady           int
	// FailedRequestsCounted: see Options.
	FailedRequestsCounted bool
	CountedPods           labels.Selector // see Options
	// Outages are when the router itself was down (Auditor.Outage).
	Outages          []Window
	Started, Stopped time.Time
	// Entries are ordered by Time.
	Entries []Entry
}

// Window is a span of time.
type Window struct{ From, To time.Time }

// Holds reports whether t is in [From, To].
func (w Window) Holds(t time.Time) bool { return !t.Before(w.From) && !t.After(w.To) }

// sortEntries orders entries by time, keeping the order of equal times.
func sortEntries(es []Entry) {
	slices.SortStableFunc(es, func(a, b Entry) int { return a.Time.Compare(b.Time) })
}

// byRV returns the API entries (selector, pods) in resourceVersion order,
// which is etcd's order of the changes; entries without one keep their
// place by time.
func byRV(es []Entry) []Entry {
	var out []Entry
	for _, e := range es {
		if e.Kind == KindSelector || e.Kind == KindPod {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.RV != 0 && b.RV != 0 {
			return a.RV < b.RV
		}
		return a.Time.Before(b.Time)
	})
	return out
}

// WriteTimeline writes the report, its violations and its timeline to path
// as text.
func (r *Report) WriteTimeline(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	w := bufio.NewWriter(f)
	r.writeTo(w, r.Violations())
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write timeline: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	return nil
}

func (r *Report) writeTo(w io.Writer, vs []Violation) {
	fmt.Fprintf(w, "audit of service %s/%s from %s to %s (%s)\n", r.Namespace, r.Service,
		stamp(r.Started), stamp(r.Stopped), r.Stopped.Sub(r.Started).Round(time.Millisecond))
	fmt.Fprintf(w, "color key %q, min ready %d\n", r.ColorKey, r.MinReady)
	fmt.Fprintf(w, "%d violations\n", len(vs))
	for _, v := range vs {
		fmt.Fprintf(w, "  %s\n", v)
	}
	fmt.Fprintln(w, "timeline (time since start, resourceVersion, kind, what; successful requests summed per second):")
	for _, line := range r.lines(r.Entries) {
		fmt.Fprintln(w, line)
	}
}

// Excerpt returns the timeline lines from before to after around t.
func (r *Report) Excerpt(t time.Time, before, after time.Duration) string {
	var in []Entry
	for _, e := range r.Entries {
		if !e.Time.Before(t.Add(-before)) && !e.Time.After(t.Add(after)) {
			in = append(in, e)
		}
	}
	return strings.Join(r.lines(in), "\n")
}

// lines formats entries, summing successful requests per second of the
// audit so that the timeline stays readable at hundreds of requests per
// second.
func (r *Report) lines(es []Entry) []string {
	var out []string
	var ok okWindow
	for _, e := range es {
		if e.Kind == KindRequest && !e.Request.Failed() {
			if sec := r.second(e.Time); sec != ok.sec && ok.n > 0 {
				out = append(out, ok.line(r))
				ok = okWindow{}
			}
			ok.add(r.second(e.Time), e)
			continue
		}
		if ok.n > 0 && r.second(e.Time) != ok.sec {
			out = append(out, ok.line(r))
			ok = okWindow{}
		}
		out = append(out, r.line(e))
	}
	if ok.n > 0 {
		out = append(out, ok.line(r))
	}
	return out
}

func (r *Report) second(t time.Time) int64 { return int64(t.Sub(r.Started) / time.Second) }

// okWindow sums successful requests of one second.
type okWindow struct {
	sec   int64
	n     int
	last  time.Time
	byPod map[string]int
}

func (w *okWindow) add(sec int64, e Entry) {
	if w.byPod == nil {
		w.sec, w.byPod = sec, map[string]int{}
	}
	w.n++
	w.last = e.Time
	w.byPod[e.Request.Pod]++
}

func (w *okWindow) line(r *Report) string {
	var pods []string
	for _, p := range slices.Sorted(maps.Keys(w.byPod)) {
		pods = append(pods, fmt.Sprintf("%s x%d", p, w.byPod[p]))
	}
	return fmt.Sprintf("%9s  %8s  %-9s %d ok in second %d: %s", offset(r.Started, w.last), "", "requests", w.n, w.sec,
		strings.Join(pods, ", "))
}

func (r *Report) line(e Entry) string {
	rv := ""
	if e.RV != 0 {
		rv = fmt.Sprint(e.RV)
	}
	what := describe(e)
	if e.Initial {
		what += " (initial)"
	}
	return fmt.Sprintf("%9s  %8s  %-9s %s", offset(r.Started, e.Time), rv, e.Kind, what)
}

func describe(e Entry) string {
	switch e.Kind {
	case KindSelector:
		if e.Selector == nil {
			return "service absent"
		}
		return labels.Set(e.Selector).String()
	case KindEndpoints:
		return fmt.Sprintf("%d ready: %s", len(e.Endpoints), strings.Join(e.Endpoints, " "))
	case KindRoute:
		return fmt.Sprintf("router sends to %d: %s", len(e.Endpoints), strings.Join(e.Endpoints, " "))
	case KindPod:
		return e.Pod.String()
	case KindRequest:
		o := e.Request
		return fmt.Sprintf("FAILED status %d pod %q terminating=%t after %s: %s", o.Status, o.Pod, o.Terminating,
			o.Duration.Round(time.Millisecond), o.Err)
	}
	return e.Note
}

func offset(start, t time.Time) string {
	return fmt.Sprintf("%+.3fs", t.Sub(start).Seconds())
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }

// compareViolations orders violations by time, then invariant.
func compareViolations(a, b Violation) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.Invariant, b.Invariant)
}
