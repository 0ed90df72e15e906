package strategy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hazard"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/rollback"
	"github.com/cutover/cutover/internal/verify"
)

// Stage names of a rolling update, as the stage view shows them.
const (
	StageValidate = "Validate"
	StageApply    = "Apply"
	StageWait     = "Wait"
	StageVerify   = "Verify"
	StageRollback = "Rollback"
)

// RollingOptions configure a rolling update.
type RollingOptions struct {
	Apply           apply.Options
	Checks          []verify.Spec
	DryRun          bool          // stop after the server-side dry run
	NoRollback      bool          // leave a failed release as it is
	RollbackTimeout time.Duration // default 5m; rollback runs even when the run's ctx has ended
	// EndpointGuard watches the release's Services while it waits: see
	// package drift.
	EndpointGuard drift.Settings
	// StrictHazards refuses a release the zero-downtime pre-flight finds
	// hazards in, instead of warning (package hazard).
	StrictHazards bool
	// BeforeWrite, if set, runs after the dry run passed and before the
	// first write; an error refuses the release.
	BeforeWrite func(ctx context.Context) error
	// Needs are permissions the caller needs besides the release's own
	// (its lock and record), checked with them in Validate.
	Needs []access.Need
	Sink  event.Sink
}

// Rolling applies objects, waits until every one is ready (Deployments fully
// rolled out, old pods gone), runs the checks, and rolls changed Deployments
// back when any of that fails.
type Rolling struct {
	runner
	opts RollingOptions
}

// NewRolling returns a rolling-update strategy.
func NewRolling(c *kube.Clients, opts RollingOptions) *Rolling {
	if opts.RollbackTimeout <= 0 {
		opts.RollbackTimeout = 5 * time.Minute
	}
	opts.Apply.Stage = StageApply
	return &Rolling{runner: newRunner(c, opts.Apply, opts.Sink), opts: opts}
}

// Run deploys objs. Errors: bad input wraps ErrRefused (nothing was
// written); a failed release is a *Failure.
func (r *Rolling) Run(ctx context.Context, objs []manifest.Object) error {
	var items []*apply.Item
	err := r.stage(StageValidate, func() (err error) {
		if items, err = r.ap.Plan(ctx, objs); err != nil {
			return err
		}
		needs := append(waitNeeds(items), append(endpointNeeds(items), hazardNeeds(items)...)...)
		if !r.opts.EndpointGuard.Off {
			needs = append(needs, guardNeeds(r.c.Namespace, targetNames(rollingTargets(items)), true)...)
		}
		needs = append(needs, r.opts.Needs...)
		if err := r.checkAccess(ctx, needs); err != nil {
			return err
		}
		live, err := r.liveServices(ctx, items)
		if err != nil {
			return err
		}
		return r.checkHazards(StageValidate, items, append(releaseServices(items), live...), hazard.Options{Rolling: true}, r.opts.StrictHazards)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	r.reportPlan(StageValidate, items)
	if r.opts.DryRun {
		return nil
	}
	if err := r.beforeWrite(ctx, items); err != nil {
		return err
	}
	return r.release(ctx, items)
}

// createNamespace applies the files' Namespace of the release's namespace
// when it does not exist yet.
func (r *Rolling) createNamespace(ctx context.Context, items []*apply.Item) error {
	for _, it := range items {
		if it.Kind() == "Namespace" && it.Object.GroupVersionKind().Group == "" && it.Name() == r.c.Namespace && it.Before == nil {
			return r.ap.Apply(ctx, []*apply.Item{it})
		}
	}
	return nil
}

// release applies the planned items, waits for them and verifies them,
// rolling back on failure: the rolling update after Validate.
func (r *Rolling) release(ctx context.Context, items []*apply.Item) error {
	if err := r.stage(StageApply, func() error { return r.ap.Apply(ctx, items) }); err != nil {
		return r.fail(ctx, items, err)
	}
	if err := r.stage(StageWait, func() error { return r.waitRollout(ctx, StageWait, items, items) }); err != nil {
		return r.fail(ctx, items, err)
	}
	if len(r.opts.Checks) > 0 {
		if err := r.stage(StageVerify, func() error { return r.verify(ctx, StageVerify, r.opts.Checks) }); err != nil {
			return r.fail(ctx, items, err)
		}
	}
	return nil
}

// beforeWrite runs the BeforeWrite hook; its error refuses the release.
// The hook takes the app's lock, a Lease in the release's namespace: a
// namespace that the files create and that does not exist yet is created
// first.
func (r *Rolling) beforeWrite(ctx context.Context, items []*apply.Item) error {
	hook := r.opts.BeforeWrite
	if hook == nil {
		return nil
	}
	if err := r.createNamespace(ctx, items); err != nil {
		return err
	}
	err := hook(ctx)
	if err == nil || errors.Is(err, ErrRefused) {
		return err // a refusal says so already
	}
	return fmt.Errorf("%w: %w", ErrRefused, err)
}

// fail rolls back, unless told not to, and describes the outcome.
func (r *Rolling) fail(ctx context.Context, items []*apply.Item, cause error) error {
	f := &Failure{Cause: cause}
	if (errors.Is(cause, apply.ErrInvalid) || errors.Is(cause, apply.ErrForbidden)) && !anyApplied(items) {
		return fmt.Errorf("%w: %w", ErrRefused, cause) // a deferred object was refused before any write
	}
	if r.opts.NoRollback {
		return f
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.RollbackTimeout)
	defer cancel()
	_ = r.stage(StageRollback, func() error {
		f.Restored, f.RollbackErr = r.rollback(ctx, items)
		return f.RollbackErr
	})
	f.RolledBack = f.RollbackErr == nil
	return f
}

func anyApplied(items []*apply.Item) bool {
	for _, it := range items {
		if it.Applied != nil {
			return true
		}
	}
	return false
}

// rollback restores every Deployment this release changed and waits until
// each is fully available again.
func (r *Rolling) rollback(ctx context.Context, items []*apply.Item) ([]string, error) {
	var restored []string
	var back []*apply.Item
	var errs []error
	for _, it := range items {
		if it.Kind() != "Deployment" || it.Applied == nil || it.Action == apply.Unchanged {
			continue
		}
		plan := rollback.Plan{Ref: it.Ref(), Applied: it.Object.Unstructured, Before: it.Before}
		err := rollback.Apply(ctx, r.c.Dynamic.Resource(it.Mapping.Resource).Namespace(it.Namespace), r.ap.FieldManager(), plan)
		r.reportRollback(it.Ref(), err)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", it.Ref(), err))
			continue
		}
		restored = append(restored, it.Ref())
		back = append(back, it)
	}
	if err := r.waitRollout(ctx, StageRollback, back, append(servicesAmong(items), back...)); err != nil {
		errs = append(errs, fmt.Errorf("wait for the previous revision: %w", err))
	}
	return restored, errors.Join(errs...)
}

// waitRollout waits until the items are ready and the Services among
// routing (with the Deployments they front) send traffic to the ready pods
// only. Meanwhile the endpoint drift guard watches those Services.
func (r *Rolling) waitRollout(ctx context.Context, stage string, items, routing []*apply.Item) error {
	targets := rollingTargets(routing)
	var view *readiness.View
	if len(targets) > 0 {
		var err error
		view, err = readiness.StartView(ctx, r.c, readiness.ViewOptions{Namespace: r.c.Namespace, EndpointSlices: true, Services: true})
		if err != nil {
			return err
		}
		defer view.Stop()
	}
	if err := r.resumeLeftPaused(ctx, stage, items); err != nil {
		return err
	}
	g := r.startGuard(ctx, r.opts.EndpointGuard, view, targets)
	defer r.stopGuard(ctx, g)
	if err := r.wait(ctx, stage, items); err != nil {
		return err
	}
	if err := r.waitServices(ctx, stage, routing, view); err != nil {
		return fmt.Errorf("wait for the Services to route to the ready pods: %w", err)
	}
	return nil
}

func (r *Rolling) reportRollback(ref string, err error) {
	ev := event.Event{Type: event.Rollback, Stage: StageRollback, Object: ref, Status: event.Restoring, Message: "previous revision"}
	if err != nil {
		ev.Status, ev.Message, ev.Error = event.Failed, "", err.Error()
	}
	event.Stamp(r.sink, ev)
}
