package drift

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
)

// DefaultGrace is how long one pod's endpoint may disagree with the pod
// before the Guard acts. Measured on the test bed under load with the race
// detector (audit.Report.EndpointLags over the chaos suite), the
// EndpointSlice controller follows a pod change within 2 to 102 ms when the
// control plane is healthy; 3 s also clears the 1 s update batching some
// production clusters configure, so the Guard acts only on a controller
// that does not follow (README: Reliability).
const DefaultGrace = 3 * time.Second

// Target is a Service the Guard watches.
type Target struct {
	Service string
	// Pause names Deployments (in the Guard's namespace) to pause from the
	// moment a disagreement outlives the grace period until the Service
	// agrees again: a rolling update's, so that no further old pod is taken
	// away while the Service may still route to it, or not yet to the new
	// ones. Empty: the Guard only resyncs and repairs.
	Pause []string
}

// Options configure a Guard.
type Options struct {
	Clients *kube.Clients
	// View is the run's View of the namespace, with EndpointSlices and
	// Services.
	View    *readiness.View
	Targets []Target
	// Grace is how long a pod's endpoint may disagree before the Guard
	// acts; default DefaultGrace.
	Grace time.Duration
	// MaxBackoff caps the time between two resyncs of a Service while it
	// still disagrees; default 8s. The first comes Grace after the
	// disagreement began, then after 1 s, doubling.
	MaxBackoff time.Duration
	Sink       event.Sink
}

// Episode is one time a Service's endpoints disagreed with its pods for
// longer than the grace period.
type Episode struct {
	Service    string
	Began      time.Time // when the oldest disagreement began
	Ended      time.Time // zero while it lasts
	Resyncs    int
	Repairs    int      // slices the Guard repaired itself (see Repair)
	Paused     []string // Deployments paused during it
	Worst      []Disagreement
	Unresolved bool // the Guard stopped while it lasted
}

// Duration is how long the episode lasted (so far).
func (e Episode) Duration() time.Duration {
	if e.Ended.IsZero() {
		return time.Since(e.Began)
	}
	return e.Ended.Sub(e.Began)
}

// Guard watches Services until Stop.
type Guard struct {
	opts   Options
	ns     string
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	episodes []Episode
	paused   map[string]bool // Deployments the Guard holds paused
}

// Start starts a Guard over the View's namespace. It needs, besides the
// View's list and watch, patch on Services (the resync), update on
// EndpointSlices (the repair) and, with Pause, get and patch on
// Deployments.
func Start(ctx context.Context, opts Options) *Guard {
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 8 * time.Second
	}
	if opts.Sink == nil {
		opts.Sink = event.Discard
	}
	ctx, cancel := context.WithCancel(ctx)
	g := &Guard{opts: opts, ns: opts.View.Namespace(), cancel: cancel, done: make(chan struct{}), paused: map[string]bool{}}
	go g.run(ctx)
	return g
}

// Stop ends the Guard, resumes the Deployments it paused, and returns
// every episode it saw.
func (g *Guard) Stop(ctx context.Context) ([]Episode, error) {
	g.cancel()
	<-g.done
	err := g.resumeAll(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Episode(nil), g.episodes...), err
}

// watch is the Guard's state of one Target.
type watch struct {
	Target
	since      map[Disagreement]time.Time
	episode    int // index into episodes + 1; 0 when none is open
	nextResync time.Time
	resyncs    int
	// holding: a disagreement outlived the grace period; the target's
	// Deployments stay paused until the Service agrees again.
	holding bool
	// repaired: the Guard repaired the slices in this episode, so the
	// controller's informers are stale. It resyncs no more (a resync only
	// makes a stale controller write its stale slices again) and repairs
	// again, at once, whenever a gone pod is back as a ready endpoint, at
	// most once per repairInterval.
	repaired   bool
	nextRepair time.Time
	// staleWrite: a slice listed a pod long after the View saw it
	// deleted (see staleWrite); the Guard repairs rather than resyncs.
	staleWrite bool
}

func (g *Guard) run(ctx context.Context) {
	defer close(g.done)
	if err := g.opts.View.Synced(ctx); err != nil {
		return
	}
	ws := make([]*watch, len(g.opts.Targets))
	for i, t := range g.opts.Targets {
		ws[i] = &watch{Target: t, since: map[Disagreement]time.Time{}}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := g.opts.View.Changed()
		next := g.evaluate(ctx, ws, time.Now())
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			g.closeOpen(ws, time.Now())
			return
		case <-changed:
		case <-timer.C:
		}
	}
}

// evaluate judges every target, acts where a disagreement is overdue, and
// returns when to look again without a change.
func (g *Guard) evaluate(ctx context.Context, ws []*watch, now time.Time) time.Time {
	next := now.Add(time.Hour)
	pause := map[string]bool{}
	for _, w := range ws {
		at := g.judge(ctx, w, now, pause)
		if at.Before(next) {
			next = at
		}
	}
	g.holdPaused(ctx, pause)
	return next
}

// judge updates one target's disagreements, resyncs an overdue Service,
// adds the Deployments to hold paused to pause, and returns when to look
// again.
func (g *Guard) judge(ctx context.Context, w *watch, now time.Time, pause map[string]bool) time.Time {
	v := g.opts.View
	ds := Compare(v.Service(w.Service), v.EndpointSlices(w.Service), v.Pods(nil))
	current := map[Disagreement]time.Time{}
	var overdue, stale []Disagreement
	oldest := now
	for _, d := range ds {
		seen, ok := w.since[d]
		if !ok {
			seen = now
		}
		current[d] = seen
		since := seen
		if at, gone := v.GoneSince(d.Pod); gone && d.Reason == Gone && at.Before(seen) {
			// The disagreement counts from the pod's deletion; a slice
			// written long after that, listing it, was written by a
			// controller with a stale cache.
			since = at
			if listedAt(v, w.Service, d.Pod).Sub(at) > staleWrite {
				stale = append(stale, d)
			}
		}
		if since.Before(oldest) {
			oldest = since
		}
		if now.Sub(since) >= g.opts.Grace || slices.Contains(stale, d) {
			overdue = append(overdue, d)
		}
	}
	w.since = current
	if len(ds) == 0 {
		g.agreed(w, now)
		w.holding = false
		return now.Add(time.Hour)
	}
	next := oldest.Add(g.opts.Grace)
	if len(overdue) > 0 {
		w.staleWrite = len(stale) > 0
		next = g.overdue(ctx, w, oldest, overdue, now)
		w.holding = true
	}
	if len(stale) > 0 || (w.repaired && slices.ContainsFunc(ds, isGone)) {
		next = earliest(next, g.repairAgain(ctx, w, ds, now))
	}
	if w.holding {
		// The Service does not follow its pods: every old pod the rollout
		// takes away may be one it still routes to, and the new pods may
		// not be routed to at all. Hold the rollout until it agrees.
		for _, name := range w.Pause {
			pause[name] = true
		}
	}
	return next
}

// listedAt is when the View learned the newest of the Service's slices
// that list pod as a ready endpoint.
func listedAt(v *readiness.View, service, pod string) time.Time {
	var at time.Time
	for _, s := range v.EndpointSlices(service) {
		if slices.ContainsFunc(s.Endpoints, func(e discoveryv1.Endpoint) bool { return readyPodEndpoint(e) && e.TargetRef.Name == pod }) {
			at = latest(at, v.Written(s))
		}
	}
	return at
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// staleWrite is how long after the View saw a pod deleted a slice may
// list it as a ready endpoint anew before the Guard takes the write for
// one by an EndpointSlice controller whose cache is stale. A healthy
// controller drops a deleted pod within 2 to 102 ms on the test bed under
// load (DefaultGrace); a stale one rewrites slices from pods it still
// believes in, as it did 47 s after an API server restart in chaos seed
// 318, and a resync only makes it write them again: the Guard repairs at
// once instead.
const staleWrite = time.Second

// overdue opens or extends the target's episode and resyncs when due; it
// returns when the next resync is due.
func (g *Guard) overdue(ctx context.Context, w *watch, began time.Time, ds []Disagreement, now time.Time) time.Time {
	g.mu.Lock()
	if w.episode == 0 {
		g.episodes = append(g.episodes, Episode{Service: w.Service, Began: began})
		w.episode, w.resyncs, w.nextResync, w.repaired = len(g.episodes), 0, now, false
		g.warn(step{action: ActionBegan, service: w.Service, took: now.Sub(began),
			msg: fmt.Sprintf("its endpoints disagree with its pods for %s: %s", now.Sub(began).Round(100*time.Millisecond), Describe(ds))})
	}
	ep := &g.episodes[w.episode-1]
	if len(ds) > len(ep.Worst) {
		ep.Worst = ds
	}
	g.mu.Unlock()
	if w.repaired || w.staleWrite {
		return now.Add(time.Hour) // repairs follow the slices' changes from now on
	}
	if now.Before(w.nextResync) {
		return w.nextResync
	}
	err := Resync(ctx, g.opts.Clients, g.ns, w.Service)
	if err != nil && ctx.Err() != nil {
		return now.Add(time.Hour) // the Guard is stopping
	}
	w.resyncs++
	msg := fmt.Sprintf("resync %d: touched the Service so that the EndpointSlice controller recomputes its slices now", w.resyncs)
	if err != nil {
		msg = fmt.Sprintf("resync %d failed: %v", w.resyncs, err)
	}
	g.warn(step{action: ActionResync, service: w.Service, msg: msg})
	g.mu.Lock()
	g.episodes[w.episode-1].Resyncs = w.resyncs
	g.mu.Unlock()
	w.nextResync = now.Add(backoff(w.resyncs, g.opts.MaxBackoff))
	if w.resyncs >= repairFromResync && slices.ContainsFunc(ds, isGone) {
		g.repair(ctx, w, ds, now)
	}
	return w.nextResync
}

// repairAgain repairs a target whose slices list a gone pod again after a
// repair (the stale controller wrote them back), unless it repaired less
// than repairInterval ago; it returns when it may repair next.
func (g *Guard) repairAgain(ctx context.Context, w *watch, ds []Disagreement, now time.Time) time.Time {
	if now.Before(w.nextRepair) {
		return w.nextRepair
	}
	g.repair(ctx, w, ds, now)
	return now.Add(time.Hour)
}

// writeTimeout bounds one write of the Guard.
const writeTimeout = 5 * time.Second

// repairFromResync is the resync from which the Guard also repairs the
// slices itself: the first resync has had a second to work.
const repairFromResync = 2

// repairInterval is the least time between two repairs of a Service.
const repairInterval = time.Second

// repair corrects the target's stale endpoints (see Repair), the
// disagreements ds judged on the View as it is, and reports it.
func (g *Guard) repair(ctx context.Context, w *watch, ds []Disagreement, now time.Time) {
	v := g.opts.View
	w.nextRepair = now.Add(repairInterval)
	// A repair under way finishes (and is reported) even if the Guard is
	// stopped meanwhile.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	wrote, err := Repair(wctx, g.opts.Clients, v.Service(w.Service), v.EndpointSlices(w.Service), v.Pods(nil))
	kind := repairFirst
	switch {
	case w.repaired:
		kind = repairAgain
	case w.staleWrite:
		kind = repairStale
	}
	if len(wrote) > 0 {
		w.repaired = true
		g.mu.Lock()
		g.episodes[w.episode-1].Repairs += len(wrote)
		g.mu.Unlock()
	}
	switch {
	case err != nil && apierrors.IsConflict(err):
		// The controller wrote meanwhile: judged again on its change.
	case err != nil:
		g.warn(step{action: ActionFailed, service: w.Service, msg: fmt.Sprintf("repair failed: %v", err)})
	case len(wrote) > 0:
		g.warn(step{action: ActionRepaired, service: w.Service, msg: repairMessage(kind, w.resyncs, wrote, ds)})
	}
}

// Kinds of repair, for its message.
const (
	repairFirst = iota // after resyncs that did not help
	repairAgain        // the controller wrote the gone pods back
	repairStale        // a slice listed pods long gone: the controller's cache is stale
)

func repairMessage(kind, resyncs int, wrote []string, ds []Disagreement) string {
	gone := Describe(slices.DeleteFunc(slices.Clone(ds), func(d Disagreement) bool { return !isGone(d) }))
	switch kind {
	case repairAgain:
		return fmt.Sprintf("the EndpointSlice controller wrote back the endpoints of pods that are gone: dropped them again from %s (%s)",
			strings.Join(wrote, ", "), gone)
	case repairStale:
		return fmt.Sprintf("the EndpointSlice controller listed pods that left over %s before (its cache is stale, or it lags far behind): dropped their endpoints from %s at once (%s)",
			staleWrite, strings.Join(wrote, ", "), gone)
	}
	return fmt.Sprintf("the EndpointSlice controller did not follow after %d resyncs: dropped the endpoints of pods that are gone from %s (%s)",
		resyncs, strings.Join(wrote, ", "), gone)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func isGone(d Disagreement) bool { return d.Reason == Gone }

// backoff is the wait after the nth resync: 1 s, 2 s, 4 s... up to max.
func backoff(n int, most time.Duration) time.Duration {
	d := time.Second << min(max(n-1, 0), 16)
	return min(d, most)
}

// agreed closes the target's episode, if one is open.
func (g *Guard) agreed(w *watch, now time.Time) {
	if w.episode == 0 {
		return
	}
	g.mu.Lock()
	ep := &g.episodes[w.episode-1]
	ep.Ended = now
	took := ep.Duration()
	msg := fmt.Sprintf("its endpoints agree with its pods again after %s (%d resyncs)", took.Round(100*time.Millisecond), ep.Resyncs)
	g.mu.Unlock()
	w.episode, w.repaired, w.staleWrite = 0, false, false
	g.warn(step{action: ActionAgreed, service: w.Service, msg: msg, took: took})
}

// closeOpen ends the open episodes when the Guard stops: one whose
// Service agrees by now ended (the run's own wait saw the agreement before
// the Guard did: often milliseconds after a resync); the others are
// unresolved.
func (g *Guard) closeOpen(ws []*watch, now time.Time) {
	v := g.opts.View
	for _, w := range ws {
		if w.episode == 0 {
			continue
		}
		if len(Compare(v.Service(w.Service), v.EndpointSlices(w.Service), v.Pods(nil))) == 0 {
			g.agreed(w, now)
			continue
		}
		g.mu.Lock()
		ep := &g.episodes[w.episode-1]
		ep.Unresolved = true
		took := now.Sub(ep.Began)
		g.mu.Unlock()
		g.warn(step{action: ActionUnresolved, service: w.Service, took: took,
			msg: fmt.Sprintf("its endpoints still disagree with its pods after %s, as the run ends", took.Round(100*time.Millisecond))})
	}
}

// Status is the status of every event the Guard emits (warnings); Action
// says which step it is, and Duration how long the drift had lasted (on
// began, agreed and unresolved).
const Status = "endpoint drift"

// Actions of the Guard's events.
const (
	ActionBegan      = "began"      // a Service's endpoints disagree past the grace period
	ActionResync     = "resync"     // the Service was touched
	ActionRepaired   = "repaired"   // the Guard dropped endpoints of gone pods from the slices
	ActionAgreed     = "agreed"     // they agree again
	ActionUnresolved = "unresolved" // they still disagree as the Guard stops
	ActionPaused     = "paused"     // a Deployment was paused
	ActionResumed    = "resumed"    // and resumed
	ActionFailed     = "failed"     // a pause or resume could not be written
)

// step is one event of the Guard about a Service.
type step struct {
	action, service, msg string
	took                 time.Duration
}

func (g *Guard) warn(s step) {
	event.Stamp(g.opts.Sink, event.Event{Type: event.Warning, Object: "Service/" + g.ns + "/" + s.service, Status: Status,
		Action: s.action, Message: s.msg, Duration: s.took})
}

// Settings are a front end's choices for the Guard.
type Settings struct {
	Off   bool          // no guard: for measurement, or a cluster that forbids the writes
	Grace time.Duration // default DefaultGrace
}
