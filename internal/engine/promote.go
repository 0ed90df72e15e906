package engine

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/notify"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/verify"
)

// pend ends a run that stopped before Confirm: its record waits, pending,
// for a promote or an abort until req.PendingFor has passed.
func (s *session) pend(ctx context.Context, rec *release.Recorder, req DeployRequest, st *strategy.Staged) error {
	bg := req.BlueGreen
	expires := time.Now().Add(req.PendingFor).UTC()
	err := rec.Change(ctx, func(x *release.Record) {
		x.Staged = &release.Staged{Colors: bg.Colors, IdlePolicy: bg.IdlePolicy, ScaleDownDelay: bg.ScaleDownDelay,
			Templates: st.Templates, Expires: expires}
		x.Approval = &release.Approval{State: release.ApprovalPending, At: time.Now().UTC()}
	})
	if ferr := rec.Finish(release.OutcomePending, nil); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("record the pending release: %w", err)
	}
	r := rec.Record()
	event.Stamp(s.Sink, event.Event{Type: event.Approval, Stage: strategy.StageConfirm, Object: "approval", Status: "pending",
		Message: fmt.Sprintf("revision %d of %s is staged on %s, production untouched: waiting for a promote or an abort until %s",
			r.Revision, r.App, st.Target, expires.Format(time.RFC3339))})
	if a := req.Approval; a != nil { // tell the approvers, as Confirm would
		msg := (&approver{Approval: *a, store: s.store, rec: rec, sink: s.Sink}).message(ctx, &r, r.FromColor, r.ToColor)
		msg.Deadline = expires
		if err := notify.All(ctx, msg, a.Notifiers...); err != nil {
			warn(s.Sink, "notification failed: "+err.Error())
		}
	}
	return nil
}

// checkPending refuses a run while a release of the app waits before
// Confirm, and records one that expired as aborted.
func (s *session) checkPending(ctx context.Context, prev *release.Record) error {
	if prev.Outcome != release.OutcomePending {
		return nil
	}
	if !prev.Expired(time.Now()) {
		return fmt.Errorf("%w: revision %d of %s is staged on %s and waits for a promote or an abort until %s",
			strategy.ErrRefused, prev.Revision, prev.App, prev.ToColor, prev.Staged.Expires.Format(time.RFC3339))
	}
	return s.expire(ctx, prev)
}

// expire records a pending release that nobody promoted in time as
// aborted.
func (s *session) expire(ctx context.Context, r *release.Record) error {
	r.Outcome, r.Finished = release.OutcomeAborted, time.Now().UTC()
	r.Error = fmt.Sprintf("expired: not promoted before %s", r.Staged.Expires.Format(time.RFC3339))
	if r.Approval != nil && r.Approval.State == release.ApprovalPending {
		r.Approval.State = release.ApprovalExpired
	}
	if err := s.store.Update(ctx, r); err != nil {
		return fmt.Errorf("%w: record the expired release: %w", strategy.ErrRefused, err)
	}
	warn(s.Sink, fmt.Sprintf("revision %d of %s expired before anyone promoted it: recorded as aborted", r.Revision, r.App))
	return nil
}

// pending returns the app's release that waits before Confirm, or refuses.
func (s *session) pending(ctx context.Context) (*release.Record, error) {
	r, err := s.store.Latest(ctx, s.App)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: read the records of %s: %w", strategy.ErrRefused, s.App, err)
	case r == nil || r.Outcome != release.OutcomePending || r.Staged == nil:
		return nil, fmt.Errorf("%w: no release of %s waits for a promote", strategy.ErrRefused, s.App)
	case r.Expired(time.Now()):
		if err := s.expire(ctx, r); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: revision %d of %s expired at %s", strategy.ErrRefused, r.Revision, s.App, r.Staged.Expires.Format(time.RFC3339))
	}
	return r, nil
}

// PromoteRequest continues the release of App that stopped before Confirm.
type PromoteRequest struct {
	Run
	// By and Comment are recorded as the release's approval.
	By, Comment string
	// Checks run at Verify Prod, for the staged color.
	Checks CheckPlan
	// EndpointGuard watches production's Service through the switch, as a
	// one-shot deploy does (package drift).
	EndpointGuard   drift.Settings
	RollbackTimeout time.Duration // bound on the switch back
}

// Promote runs Switch, Verify Prod and Post of the app's pending release,
// under its lock, writing to that release's record. It refuses, leaving
// the release pending and production untouched, when production no longer
// selects the color it did or the staged color changed since Verify Staged
// (a pod lost or not ready, a pod template changed).
//
// A canary release in progress, paused at a step, goes on to its next
// step instead: its run holds the lock and watches its record.
func Promote(ctx context.Context, req PromoteRequest) error {
	if store, r, err := runningCanary(ctx, req.Run); err != nil || r != nil {
		if err == nil {
			err = promoteCanary(ctx, store, r, req.By, req.Comment)
		}
		return err
	}
	s, ctx, err := lockApp(ctx, req.Run)
	if err != nil {
		return err
	}
	defer s.unlock()
	r, err := s.pending(ctx)
	if err != nil {
		return err
	}
	objs, err := s.store.Objects(ctx, r)
	if err != nil {
		return fmt.Errorf("%w: read the objects of revision %d: %w", strategy.ErrRefused, r.Revision, err)
	}
	req.Run = req.Run.withRevision()
	req.revision.Store(int64(r.Revision))
	checks, err := req.Checks.forProd(ctx, req.Run, r.ToColor)
	if err != nil {
		return err
	}
	rec := release.NewRecorder(s.store, r, req.sinkLog())
	opts := req.options(r, objs, rec)
	opts.Checks = func(stage, _ string) []verify.Spec {
		if stage != strategy.StageVerifyProd {
			return nil
		}
		return checks
	}
	bg := strategy.NewBlueGreen(req.Clients, opts)
	err = bg.Promote(ctx, strategy.Staged{Target: r.ToColor, Templates: r.Staged.Templates})
	if !rec.Started() { // refused before the switch: still pending
		return event.RedactError(err, req.Secrets)
	}
	return event.RedactError(s.finish(ctx, rec, err), req.Secrets)
}

func (req PromoteRequest) options(r *release.Record, objs []manifest.Object, rec *release.Recorder) strategy.BlueGreenOptions {
	st := r.Staged
	return strategy.BlueGreenOptions{
		Service: r.Service, SelectorKey: r.SelectorKey, Colors: st.Colors,
		Render:         promoteRender(req.Run, r, objs),
		IdlePolicy:     st.IdlePolicy,
		ScaleDownDelay: st.ScaleDownDelay,
		BeforeWrite: func(ctx context.Context) error {
			rec.Continue()
			return rec.Change(ctx, func(x *release.Record) {
				x.Outcome, x.Finished, x.Holder = release.OutcomeRunning, time.Time{}, req.holder()
				x.Approval = &release.Approval{State: release.ApprovalApproved, By: req.By, At: time.Now().UTC(), Comment: req.Comment}
			})
		},
		SwitchBackTimeout: req.RollbackTimeout,
		EndpointGuard:     req.EndpointGuard,
		Sink:              req.recorded(rec),
	}
}

func (r Run) holder() string {
	if r.Holder != "" {
		return r.Holder
	}
	return "promote"
}

// promoteRender renders a pending release for a color: the objects its
// record keeps for the staged color, and for the active one (which Post
// scales down) its Deployments as the cluster runs them.
func promoteRender(run Run, r *release.Record, objs []manifest.Object) RenderFunc {
	stored := storedRender(r, objs)
	return func(ctx context.Context, color string) ([]manifest.Object, error) {
		if color == r.ToColor {
			return stored(ctx, color)
		}
		return colorDeployments(ctx, run, r, color)
	}
}

// colorDeployments are the Deployments that production would select for
// color, as objects naming them.
func colorDeployments(ctx context.Context, run Run, r *release.Record, color string) ([]manifest.Object, error) {
	c := run.Clients
	svc, err := c.Typed.CoreV1().Services(c.Namespace).Get(ctx, r.Service, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read production service %s: %w", r.Service, err)
	}
	sel := labels.Set{}
	for k, v := range svc.Spec.Selector {
		sel[k] = v
	}
	sel[r.SelectorKey] = color
	list, err := c.Typed.AppsV1().Deployments(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	var out []manifest.Object
	for _, d := range list.Items {
		if labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, deploymentObject(d))
		}
	}
	return out, nil
}

func deploymentObject(d appsv1.Deployment) manifest.Object {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("apps/v1")
	u.SetKind("Deployment")
	u.SetNamespace(d.Namespace)
	u.SetName(d.Name)
	return manifest.Object{Unstructured: u}
}

// AbortRequest ends the release of App that waits before Confirm.
type AbortRequest struct {
	Run
	By, Comment string
}

// Abort records the app's pending release as aborted, rejected by
// req.By. Production is untouched; the staged color stays as it is, the
// idle color that the next release replaces.
//
// A canary release in progress is asked to abort instead: its run puts
// all traffic back on stable. Abort returns once that run recorded its
// outcome, with its record.
func Abort(ctx context.Context, req AbortRequest) (*release.Record, error) {
	if store, r, err := runningCanary(ctx, req.Run); err != nil || r != nil {
		if err != nil {
			return nil, err
		}
		return abortCanary(ctx, req, store, r)
	}
	s, ctx, err := lockApp(ctx, req.Run)
	if err != nil {
		return nil, err
	}
	defer s.unlock()
	r, err := s.pending(ctx)
	if err != nil {
		return nil, err
	}
	r.Outcome, r.Finished = release.OutcomeAborted, time.Now().UTC()
	r.Error = "aborted by " + req.By + suffixComment(req.Comment)
	r.Approval = &release.Approval{State: release.ApprovalRejected, By: req.By, At: time.Now().UTC(), Comment: req.Comment}
	if err := s.store.Update(ctx, r); err != nil {
		return nil, fmt.Errorf("record the abort: %w", err)
	}
	return r, nil
}
