package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/notify"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/route"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/verify"
)

// ErrAbortRequested is the cause of a canary run's end when someone asked
// it to abort (cutover abort APP).
var ErrAbortRequested = errors.New("abort requested")

// CanarySettings configure a canary release (strategy.CanaryOptions).
type CanarySettings struct {
	// Steps in order; an analysis step's Analysis names a check of the
	// request's Checks, which runs there and nowhere else.
	Steps          []strategy.CanaryStep
	ScaleDownDelay time.Duration
	// AbortScaleDownDelay: see strategy.CanaryOptions (0: its default).
	AbortScaleDownDelay time.Duration
	// DynamicStableScale: see strategy.CanaryOptions.
	DynamicStableScale bool
	// ProxySyncDelay: see strategy.CanaryOptions (0: its default;
	// negative: none).
	ProxySyncDelay time.Duration
	// Commands word, for people, how to promote and abort app in namespace
	// ns at a pause: the CLI's commands, a dashboard's URL.
	Commands func(app, ns string) (promote, abort string)
	// DashboardURL: see Approval.
	DashboardURL string
	// Notifiers are told when the canary waits for a person: at a pause
	// until promoted, and when an analysis could not judge.
	Notifiers []notify.Notifier
	RunURL    string
	// Route names an HTTPRoute of the files: gateway mode (see
	// strategy.CanaryOptions.Route); Header, with it, a header that
	// reaches the canary whatever the weights.
	Route  string
	Header *route.Header
	// Services, with Route, names the stable and the canary Service of the
	// files the route splits between (explicit mode); nil: cutover derives
	// them (see strategy.CanaryOptions.Services).
	Services *route.Backends
	// Analysis names a check of the request's Checks, an analysis, run in
	// the background from the first weight until promotion (see
	// strategy.CanaryOptions.Background), and nowhere else.
	Analysis string
}

// deployCanary runs a canary release under the app's lock, keeping its
// record, which says how many steps are done (a rerun of the same release
// resumes after them) and carries the promotes and abort requests of
// other processes. The lock is taken, and the record started, at the
// first write.
func deployCanary(ctx context.Context, req DeployRequest) error {
	opts, err := req.canaryOptions(ctx)
	if err != nil || req.DryRun {
		if err == nil {
			err = strategy.NewCanary(req.Clients, opts).Run(ctx, req.Objects)
		}
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	store := release.NewStore(req.Clients.Typed, req.Clients.Namespace)
	rec := release.NewRecorder(store, &release.Record{App: req.App, Strategy: Canary,
		Digest: manifest.Digest(req.Objects), Started: time.Now().UTC()}, req.sinkLog())
	c := &canaryRun{req: req, rec: rec, steps: len(opts.Steps), plan: plan(opts.Steps, opts.Route)}
	opts.Needs = RecordNeeds(req.Clients.Namespace)
	opts.Sink = req.recorded(rec)
	opts.BeforeWrite = func(bctx context.Context) error { return c.start(ctx, bctx, cancel) }
	opts.Resume = func() int { return c.resume }
	opts.OnStep = c.stepDone(ctx)
	opts.AwaitPromote = c.awaitPromote
	err = strategy.NewCanary(req.Clients, opts).Run(ctx, req.Objects)
	if c.s == nil {
		return err // refused before the first write: no lock, no record
	}
	defer c.s.unlock()
	return c.s.finish(ctx, rec, err)
}

// canaryOptions builds the strategy's options: the analysis steps'
// checks, and the other checks at Verify.
func (req DeployRequest) canaryOptions(ctx context.Context) (strategy.CanaryOptions, error) {
	steps := append([]strategy.CanaryStep(nil), req.Canary.Steps...)
	b := req.Checks.binding(req.Run)
	b.Canary = canaryNames(req.Objects, req.Canary)
	named := map[string]bool{}
	for i, s := range steps {
		if s.Kind != strategy.StepAnalysis {
			continue
		}
		named[s.Analysis] = true
		specs, err := req.Checks.Defs.named(s.Analysis).specs(ctx, b.at(config.StageStaged))
		if err != nil {
			return strategy.CanaryOptions{}, fmt.Errorf("%w: step %d: %w", strategy.ErrRefused, i+1, err)
		}
		if len(specs) == 0 {
			return strategy.CanaryOptions{}, fmt.Errorf("%w: step %d runs the analysis %q, and no check has that name", strategy.ErrRefused, i+1, s.Analysis)
		}
		steps[i].Checks = specs
	}
	background, err := req.backgroundChecks(ctx, b, named)
	if err != nil {
		return strategy.CanaryOptions{}, err
	}
	rest, err := req.Checks.Defs.unnamed(named)
	if err != nil {
		return strategy.CanaryOptions{}, fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	verifyChecks, err := rest.specs(ctx, b.at(config.StageProd))
	if err != nil {
		return strategy.CanaryOptions{}, fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	opts := strategy.CanaryOptions{RollingOptions: req.rollingOptions(), Steps: steps, ScaleDownDelay: req.Canary.ScaleDownDelay,
		AbortScaleDownDelay: req.Canary.AbortScaleDownDelay, Services: req.Canary.Services, Route: req.Canary.Route, Header: req.Canary.Header, Background: background,
		DynamicStableScale: req.Canary.DynamicStableScale, ProxySyncDelay: req.Canary.ProxySyncDelay}
	opts.Checks = verifyChecks
	return opts, nil
}

// backgroundChecks builds the canary's background analysis, if it has
// one, and adds its name to named.
func (req DeployRequest) backgroundChecks(ctx context.Context, b CheckBinding, named map[string]bool) ([]verify.Spec, error) {
	name := req.Canary.Analysis
	if name == "" {
		return nil, nil
	}
	named[name] = true
	b = b.at(config.StageStaged)
	b.Background = true
	specs, err := req.Checks.Defs.named(name).specs(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("%w: canary.analysis: %w", strategy.ErrRefused, err)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: canary.analysis: no check is named %q", strategy.ErrRefused, name)
	}
	for _, s := range specs {
		if _, ok := s.Check.(*analysisCheck); !ok {
			return nil, fmt.Errorf("%w: canary.analysis: the check %q is not an analysis: only metrics run in the background", strategy.ErrRefused, name)
		}
	}
	return specs, nil
}

// canaryNames names the release's canary workloads: its one Deployment
// and the canary derived from it, and its first Service, or through the
// settings' HTTPRoute the pair of Services it splits between.
func canaryNames(objs []manifest.Object, s CanarySettings) CanaryNames {
	var n CanaryNames
	for _, o := range objs {
		switch {
		case o.GetKind() == "Deployment" && n.StableDeployment == "":
			n.StableDeployment, n.Deployment = o.GetName(), o.GetName()+strategy.CanarySuffix
		case o.GetKind() == "Service" && n.Service == "":
			n.Service, n.StableService = o.GetName(), o.GetName()
		}
	}
	if pair, ok := strategy.CanaryPair(objs, s.Route, s.Services); ok && s.Route != "" {
		n.Service, n.StableService = pair.Canary, pair.Stable
	}
	return n
}

func (b CheckBinding) at(stage string) CheckBinding {
	b.Stage = stage
	return b
}

// named are the checks called name.
func (s CheckSet) named(name string) CheckSet {
	var out CheckSet
	for _, d := range s {
		if d.Name == name {
			d.Stage = config.StageBoth
			out = append(out, d)
		}
	}
	return out
}

// unnamed are the checks no step runs: they run at Verify, after
// promotion. A check only for blue/green's staged color is refused: a
// canary has none, and a step must name it.
func (s CheckSet) unnamed(steps map[string]bool) (CheckSet, error) {
	var out CheckSet
	for _, d := range s {
		if d.Name != "" && steps[d.Name] {
			continue
		}
		if d.Stage == config.StageStaged {
			return nil, fmt.Errorf("check %s runs at stage staged, which a canary does not have: name it in an analysis step", orUnnamed(d.Name))
		}
		out = append(out, d)
	}
	return out, nil
}

func orUnnamed(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return fmt.Sprintf("%q", name)
}

// canaryRun is what one canary run keeps besides its request.
type canaryRun struct {
	req    DeployRequest
	rec    *release.Recorder
	s      *session // set at the first write
	steps  int
	plan   string // the steps, described
	resume int    // steps an interrupted run of the same release had done
}

// start takes the lock, closes an interrupted record (resuming after its
// steps if it released the same objects), starts this run's record, and
// watches it for an abort request, which cancels ctx.
func (c *canaryRun) start(ctx, bctx context.Context, cancel context.CancelCauseFunc) error {
	s, err := acquire(ctx, c.req.Run, cancel)
	if err != nil {
		return err
	}
	c.s = s
	prev, err := s.closeInterrupted(bctx, c.rec.Record().Digest)
	if err != nil {
		return err
	}
	if prev != nil && prev.Canary != nil && prev.Canary.Plan == c.plan && prev.AbortRequest == nil && prev.Canary.Step > 0 {
		c.resume = prev.Canary.Step
		warn(c.req.Sink, fmt.Sprintf("revision %d released the same objects with the same steps and did %d of %d: this run resumes after them", prev.Revision, c.resume, c.steps))
	}
	_ = c.rec.Change(bctx, func(x *release.Record) {
		x.Holder = s.lock.Holder()
		x.Canary = c.progress(c.resume, event.Weight{})
		setImages(x, c.req.Objects, c.req.Secrets)
	})
	keep := &keeper{rec: c.rec, run: c.req.Run, secrets: c.req.Secrets, sink: c.req.Sink}
	keep.set(bctx, c.req.Objects, false)
	if err := keep.start(bctx); err != nil {
		return err
	}
	go c.watchAbort(ctx, cancel)
	return nil
}

// watchAbort cancels ctx when someone asks the run to abort.
func (c *canaryRun) watchAbort(ctx context.Context, cancel context.CancelCauseFunc) {
	r := c.rec.Record()
	a, err := c.s.store.WaitForAbortRequest(ctx, r.App, r.Revision)
	if err != nil {
		return // the run ended
	}
	event.Stamp(c.req.Sink, event.Event{Type: event.Approval, Object: "abort", Status: "rejected",
		Message: "abort requested by " + a.By + suffixComment(a.Comment)})
	cancel(fmt.Errorf("%w by %s%s", ErrAbortRequested, a.By, suffixComment(a.Comment)))
}

// progress is the record's account of the canary after done steps, the
// weight they left, and the objects an abort of a dead run needs.
func (c *canaryRun) progress(done int, w event.Weight) *release.Canary {
	n := canaryNames(c.req.Objects, c.req.Canary)
	p := &release.Canary{Step: done, Steps: c.steps, Plan: c.plan, Weight: w.Asked, Share: w.Share, Deployment: n.Deployment}
	if c.req.Canary.Route != "" {
		p.Route, p.StableService, p.CanaryService = c.req.Canary.Route, n.StableService, n.Service
	}
	return p
}

// stepDone records each step done and the weight it left.
func (c *canaryRun) stepDone(ctx context.Context) func(int, event.Weight) {
	return func(done int, w event.Weight) {
		_ = c.rec.Change(ctx, func(x *release.Record) {
			x.Canary = c.progress(done, w)
		})
	}
}

// awaitPromote marks the record pending and waits for a promote (an
// approval) or an abort (a rejection, or an abort request, which ends
// ctx).
func (c *canaryRun) awaitPromote(ctx context.Context) error {
	err := c.rec.Change(ctx, func(r *release.Record) {
		r.Approval = &release.Approval{State: release.ApprovalPending, At: time.Now().UTC()}
	})
	if err != nil {
		return fmt.Errorf("wait for a promote: %w", err)
	}
	r := c.rec.Record()
	n := c.message(ctx, &r)
	msg := fmt.Sprintf("paused: revision %d of %s waits for a promote or an abort", r.Revision, r.App)
	if n.ApproveCommand != "" {
		msg += fmt.Sprintf(": run %q or %q", n.ApproveCommand, n.RejectCommand)
	}
	event.Stamp(c.req.Sink, event.Event{Type: event.Approval, Object: "promote", Status: "waiting", Message: msg})
	if err := notify.All(ctx, n, c.req.Canary.Notifiers...); err != nil {
		warn(c.req.Sink, "notification failed: "+err.Error())
	}
	d, err := c.s.store.WaitForDecision(ctx, r.App, r.Revision)
	if err != nil {
		return err
	}
	_ = c.rec.Change(ctx, func(x *release.Record) { x.Approval = d })
	if d.State != release.ApprovalApproved {
		return fmt.Errorf("%w by %s%s", ErrRejected, d.By, suffixComment(d.Comment))
	}
	event.Stamp(c.req.Sink, event.Event{Type: event.Approval, Object: "promote", Status: "approved", Message: "by " + d.By + suffixComment(d.Comment)})
	return nil
}

// plan describes the steps and the route that splits traffic, if any,
// for a rerun to compare and status to show.
func plan(steps []strategy.CanaryStep, route string) string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.String()
	}
	if route != "" {
		return strings.Join(out, ", ") + " through HTTPRoute " + route
	}
	return strings.Join(out, ", ")
}

// message tells people where the paused canary stands.
func (c *canaryRun) message(ctx context.Context, r *release.Record) notify.Message {
	m := notify.Message{App: r.App, Namespace: r.Namespace, Strategy: Canary, ToImages: r.Images,
		RunID: fmt.Sprintf("%s revision %d", r.App, r.Revision), RunURL: c.req.Canary.RunURL, WaitingSince: time.Now().UTC()}
	if p := r.Canary; p != nil {
		m.Canary = fmt.Sprintf("step %d of %d, weight %d%%", p.Step+1, p.Steps, p.Weight)
	}
	if d, ok := ctx.Deadline(); ok {
		m.Deadline = d.UTC()
	}
	if cmds := c.req.Canary.Commands; cmds != nil {
		m.ApproveCommand, m.RejectCommand = cmds(r.App, r.Namespace)
	}
	m.PageURL = PageURL(c.req.Canary.DashboardURL, r.Namespace, r.App)
	return m
}

// runningCanary returns the app's canary release whose run is in
// progress, or nil.
func runningCanary(ctx context.Context, r Run) (*release.Store, *release.Record, error) {
	store := release.NewStore(r.Clients.Typed, r.Clients.Namespace)
	rec, err := store.Latest(ctx, r.App)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read the records of %s: %w", strategy.ErrRefused, r.App, refusedIfDenied(err))
	}
	if rec == nil || rec.Strategy != Canary || rec.Outcome != release.OutcomeRunning {
		return store, nil, nil
	}
	return store, rec, nil
}

// promoteCanary goes on from the pause the app's running canary waits at.
func promoteCanary(ctx context.Context, store *release.Store, r *release.Record, by, comment string) error {
	if _, err := store.Decide(ctx, r.App, true, by, comment); err != nil {
		if errors.Is(err, release.ErrNoPendingApproval) {
			return fmt.Errorf("%w: revision %d of %s is a canary in progress that is not paused: there is nothing to promote", strategy.ErrRefused, r.Revision, r.App)
		}
		return refusedIfDenied(err)
	}
	return nil
}

// abortCanary asks the app's running canary to abort and waits until its
// run recorded the outcome. A run that died (its lock is free, or held by
// a dead process of this host) is aborted here: see abortLeft.
func abortCanary(ctx context.Context, req AbortRequest, store *release.Store, r *release.Record) (*release.Record, error) {
	if _, err := store.RequestAbort(ctx, r.App, req.By, req.Comment); err != nil {
		return nil, refusedIfDenied(err)
	}
	s, lctx, err := lockApp(ctx, req.Run)
	var held *release.HeldError
	switch {
	case errors.As(err, &held):
		end, err := store.WaitForEnd(ctx, r.App, r.Revision) // the run lives: it aborts
		if err != nil {
			return nil, fmt.Errorf("the abort was asked for; %w", err)
		}
		return end, nil
	case err != nil:
		return nil, err
	}
	defer s.unlock()
	return abortLeft(lctx, req, s, r)
}

// abortLeft puts all traffic on stable for a canary whose run died, as the
// run would have, and closes its record as rolled back (failed, when that
// could not be done).
func abortLeft(ctx context.Context, req AbortRequest, s *session, r *release.Record) (*release.Record, error) {
	c := r.Canary
	if c == nil || c.Deployment == "" {
		return nil, fmt.Errorf("%w: revision %d of %s is a canary whose run is gone, and its record does not name its canary (an older cutover wrote it): rerun the release, or scale its -canary Deployment to 0",
			strategy.ErrRefused, r.Revision, r.App)
	}
	warn(req.Sink, fmt.Sprintf("revision %d's run is gone (its lock was free to take): this command aborts the canary itself", r.Revision))
	err := strategy.AbortLeft(ctx, req.Clients, strategy.LeftCanary{Namespace: req.Clients.Namespace, Deployment: c.Deployment,
		Route: c.Route, Pair: route.Backends{Service: strings.TrimSuffix(c.StableService, strategy.StableSuffix), Stable: c.StableService, Canary: c.CanaryService},
		FieldManager: "cutover", Sink: req.Sink, ScaleDownDelay: strategy.DefaultAbortScaleDownDelay})
	r.Finished = time.Now().UTC()
	r.Outcome, r.Error = release.OutcomeRolledBack, "aborted by "+req.By+suffixComment(req.Comment)+" after its run had died"
	if err != nil {
		r.Outcome, r.Error = release.OutcomeFailed, r.Error+"; the abort failed: "+err.Error()
	}
	if uerr := s.store.Update(ctx, r); uerr != nil {
		return nil, errors.Join(err, fmt.Errorf("record the abort: %w", uerr))
	}
	return r, err
}

// ExplicitServices names explicit mode's Services (see
// CanarySettings.Services); nil without them.
func ExplicitServices(stable, canary string) *route.Backends {
	if stable == "" && canary == "" {
		return nil
	}
	return &route.Backends{Stable: stable, Canary: canary}
}

// ConfigHeader turns the config file's (or --canary-header's) header
// route into the strategy's.
func ConfigHeader(h *config.HeaderRoute) *route.Header {
	if h == nil {
		return nil
	}
	return &route.Header{Name: h.Name, Value: h.Value}
}

// ConfigSteps turns the config file's (or --steps') canary steps into the
// strategy's.
func ConfigSteps(steps []config.CanaryStep) []strategy.CanaryStep {
	out := make([]strategy.CanaryStep, 0, len(steps))
	for _, s := range steps {
		switch {
		case s.SetWeight != nil:
			out = append(out, strategy.CanaryStep{Kind: strategy.StepWeight, Weight: *s.SetWeight})
		case s.Pause != nil:
			st := strategy.CanaryStep{Kind: strategy.StepPause}
			if s.Pause.Duration != nil {
				st.Pause = *s.Pause.Duration
			}
			out = append(out, st)
		default:
			out = append(out, strategy.CanaryStep{Kind: strategy.StepAnalysis, Analysis: s.Analysis})
		}
	}
	return out
}
