package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// deployBlueGreen runs a blue/green release under the app's lock, keeping
// its record. A dry run takes no lock and keeps no record.
func deployBlueGreen(ctx context.Context, req DeployRequest) error {
	req.Render = req.managedRender()
	if req.DryRun {
		return req.blueGreen(ctx, bgRun{rec: release.NewRecorder(nil, &release.Record{}, nil)}).Run(ctx)
	}
	checker := access.NewChecker(req.Clients.Typed)
	if err := req.preflight(ctx, checker); err != nil {
		return err
	}
	s, ctx, err := lockApp(ctx, req.Run)
	if err != nil {
		return err
	}
	defer s.unlock()
	digest := manifest.Digest(req.Objects)
	prev, err := s.closeInterrupted(ctx, digest)
	if err != nil {
		return err
	}
	rec := s.newRecord(BlueGreen, req.Objects)
	_ = rec.Change(ctx, func(x *release.Record) {
		x.Service, x.SelectorKey = req.BlueGreen.Service, req.BlueGreen.SelectorKey
	})
	run := bgRun{store: s.store, rec: rec, access: checker, staged: &strategy.Staged{}}
	if prev != nil {
		// The strategy resumes only if production selects this color,
		// which only that run's switch can have done: the record's stage
		// list, written in the background, may lag behind a kill.
		run.resume = prev.ToColor
	}
	bg := req.blueGreen(ctx, run)
	err = bg.Run(ctx)
	if err == nil && req.UntilConfirm {
		return s.pend(ctx, rec, req, run.staged)
	}
	return s.finish(ctx, rec, err)
}

// preflight refuses, before the lock is taken, a run that lacks the
// permissions of the lock and the records or that Check Env would refuse.
// The two are asked at once; a missing permission is the answer, and what
// Check Env reported is shown only when there is none.
func (req DeployRequest) preflight(ctx context.Context, checker *access.Checker) error {
	denied := make(chan error, 1)
	go func() { denied <- checker.Check(ctx, RecordNeeds(req.Clients.Namespace)) }()
	var seen event.Collector
	quiet := req
	quiet.Sink = &seen
	err := quiet.blueGreen(ctx, bgRun{rec: release.NewRecorder(nil, &release.Record{}, nil), access: checker}).Precheck(ctx)
	if derr := <-denied; derr != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, derr)
	}
	for _, e := range seen.Events() {
		req.Sink.Emit(e)
	}
	return err
}

// bgRun is what one blue/green run keeps besides its request: a nil store
// is a dry run or a pre-check.
type bgRun struct {
	store  *release.Store
	rec    *release.Recorder
	access *access.Checker
	resume string
	staged *strategy.Staged // what Verify Staged left, with UntilConfirm
}

func (req DeployRequest) blueGreen(ctx context.Context, r bgRun) *strategy.BlueGreen {
	bg := req.BlueGreen
	keep := &keeper{rec: r.rec, run: req.Run, secrets: req.Secrets, sink: req.Sink}
	opts := strategy.BlueGreenOptions{
		Service:           bg.Service,
		SelectorKey:       bg.SelectorKey,
		Colors:            bg.Colors,
		Render:            req.Render,
		Checks:            req.built,
		IdlePolicy:        bg.IdlePolicy,
		ScaleDownDelay:    bg.ScaleDownDelay,
		Resume:            r.resume,
		DryRun:            req.DryRun,
		Adopt:             bg.Managed,
		BeforeWrite:       keep.start,
		OnEnv:             r.onEnv(ctx),
		Apply:             req.Apply,
		Access:            r.access,
		Sink:              req.recorded(r.rec),
		SwitchBackTimeout: req.RollbackTimeout,
		EndpointGuard:     req.EndpointGuard,
		StrictHazards:     req.StrictHazards,
		UntilConfirm:      req.UntilConfirm,
	}
	if r.staged != nil {
		opts.OnStaged = func(st strategy.Staged) { *r.staged = st }
	}
	if r.store != nil {
		opts.Render = keep.keep(req.Render)
		if !req.UntilConfirm {
			opts.Confirm = r.confirm(req.Approval, req.Sink)
		}
	}
	return strategy.NewBlueGreen(req.Clients, opts)
}

// onEnv keeps what Check Env found in the run's record.
func (r bgRun) onEnv(ctx context.Context) func(active, target string) {
	return func(active, target string) {
		_ = r.rec.Change(ctx, func(x *release.Record) { x.FromColor, x.ToColor = active, target })
	}
}

// confirm is the strategy's Confirm for approval a; nil (no wait) without
// one.
func (r bgRun) confirm(a *Approval, sink event.Sink) func(ctx context.Context, from, to string) error {
	if a == nil {
		return nil
	}
	return (&approver{Approval: *a, store: r.store, rec: r.rec, sink: sink}).confirm
}

// keeper stores a run's record at its first write and, in deploys, keeps
// in it the objects rendered for the run's target color, so that a
// rollback can redeploy this release later without its files.
type keeper struct {
	rec     *release.Recorder
	run     Run // learns the record's revision
	secrets []string
	sink    event.Sink
	pending sync.WaitGroup // objects being encoded for the record
}

// keep returns render, keeping what it renders for the target color. The
// target is known from Check Env (OnEnv) before Deploy renders; a later
// rendering for the other color (the idle policy) is not this release's.
// The objects are encoded while Deploy's dry run goes on.
func (k *keeper) keep(render RenderFunc) RenderFunc {
	return func(ctx context.Context, color string) ([]manifest.Object, error) {
		objs, err := render(ctx, color)
		if err != nil || k.rec.Started() || color != k.rec.Record().ToColor {
			return objs, err
		}
		own := make([]manifest.Object, len(objs)) // the run may change objs meanwhile
		for i, o := range objs {
			own[i] = manifest.Object{Unstructured: o.DeepCopy(), Source: o.Source}
		}
		k.pending.Go(func() { k.set(ctx, own, true) })
		return objs, err
	}
}

// set makes the record keep objs (images too, if withImages: an image
// may name the color), and warns when it cannot.
func (k *keeper) set(ctx context.Context, objs []manifest.Object, withImages bool) {
	_ = k.rec.Change(ctx, func(x *release.Record) { // in memory until Start
		x.SetObjects(objs, k.secrets)
		if withImages {
			setImages(x, objs, k.secrets)
		}
	})
	if why := k.rec.Record().ObjectsOmitted; why != "" {
		warn(k.sink, "the release record keeps none of the objects, so a rollback can only switch back to this release, not redeploy it: "+why)
	}
}

// start stores the record: the strategy's BeforeWrite.
func (k *keeper) start(ctx context.Context) error {
	k.pending.Wait()
	if err := k.rec.Start(ctx); err != nil {
		return err
	}
	if k.run.revision != nil {
		k.run.revision.Store(int64(k.rec.Record().Revision))
	}
	return nil
}

// recordStarter stores a run's record at its first write (the strategy's
// BeforeWrite).
func recordStarter(rec *release.Recorder) func(context.Context) error {
	return (&keeper{rec: rec}).start
}

// managedRender is Render, which in managed mode derives each color's
// Deployment and test Service from the files' plain Deployment and
// production Service (strategy.ManagedObjects).
func (req DeployRequest) managedRender() RenderFunc {
	bg, render := req.BlueGreen, req.Render
	if !bg.Managed {
		return render
	}
	return func(ctx context.Context, color string) ([]manifest.Object, error) {
		objs, err := render(ctx, color)
		if err != nil {
			return nil, err
		}
		objs, err = strategy.ManagedObjects(objs, strategy.ManagedOptions{Service: bg.Service, SelectorKey: bg.SelectorKey, Color: color})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", strategy.ErrRefused, err)
		}
		return objs, nil
	}
}
