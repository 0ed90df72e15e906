package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/verify"
)

// appRollback is what `cutover rollback APP` needs: the release to leave
// and the one to go back to, from the app's records.
type appRollback struct {
	current, previous *release.Record
}

// findAppRollback reads app's records. ok is false when app has none (the
// argument may then name a Deployment).
func findAppRollback(ctx context.Context, store *release.Store, app string) (appRollback, bool, error) {
	recs, err := store.List(ctx, app)
	if err != nil || len(recs) == 0 {
		return appRollback{}, false, nil //nolint:nilerr // not an app with records
	}
	var ar appRollback
	for _, r := range recs {
		if r.Outcome != release.OutcomeSucceeded || r.ToColor == "" {
			continue
		}
		switch {
		case ar.current == nil:
			ar.current = r
		case r.ToColor == ar.current.FromColor:
			ar.previous = r
			return ar, true, nil
		}
	}
	if ar.current == nil {
		return ar, true, badInput{fmt.Errorf("app %s has no successful blue/green release to roll back", app)}
	}
	return ar, true, badInput{fmt.Errorf("app %s: no earlier release ran on %s: nothing to roll back to",
		app, orNone(ar.current.FromColor))}
}

// checkDefs validates the check and approval flags before any cluster
// work, and returns a redeploy's checks: the config file's, then the
// flags'.
func (f *redeployFlags) checkDefs() (checkSet, error) {
	defs, err := f.verify.checks()
	if err != nil {
		return nil, err
	}
	if err := f.approval.validate(); err != nil {
		return nil, err
	}
	if err := f.guard.validate(); err != nil {
		return nil, err
	}
	return append(slices.Clone(f.fileChecks), defs...), nil
}

// runAppRollback takes app's production back to the previous release: at
// once when the previous color still runs it, else by redeploying it there.
func (o *rollbackOptions) runAppRollback(ctx context.Context, cmd *cobra.Command, clients *kube.Clients, ar appRollback, defs checkSet) error {
	sink, err := newSink(o.output, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	vars, err := o.redeploy.vars.variables()
	if err != nil {
		return err
	}
	secrets := o.redeploy.vars.secrets(vars)
	sink = event.Redact(sink, secrets)
	run := appRun{clients: clients, sink: sink, ar: ar, defs: defs, secrets: secrets,
		in: terminalInput(cmd.InOrStdin(), cmd.OutOrStdout())}
	if o.dryRun {
		err = o.dryRunApp(ctx, run)
	} else {
		err = o.lockedAppRollback(ctx, run)
	}
	report(sink, err)
	err = redactErr(err, secrets)
	if errors.Is(err, strategy.ErrRefused) {
		return badInput{err}
	}
	return err
}

// appRun is what one rollback of an app works with.
type appRun struct {
	clients *kube.Clients
	sink    event.Sink
	ar      appRollback
	defs    checkSet
	secrets []string
	in      io.Reader // a terminal to ask "Ready to go?" on, or nil
	access  *access.Checker
}

// lockedAppRollback holds the app's lock while it goes back, one way or
// the other: the choice is made under the lock, so no other run changes
// the colors meanwhile.
func (o *rollbackOptions) lockedAppRollback(ctx context.Context, run appRun) error {
	cur := run.ar.current
	lock, err := release.Acquire(context.WithoutCancel(ctx), run.clients.Typed, run.clients.Namespace, cur.App,
		release.LockOptions{Holder: holderID(), Dead: release.DeadOnThisHost})
	if err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	defer releaseLock(lock, run.sink)
	// When the cluster cannot tell, the instant path decides, and explains
	// a refusal, as it always did.
	running, found, err := previousColor(ctx, run.clients, run.ar)
	if err == nil && needsRedeploy(run.ar.previous, running, found) {
		return o.redeployApp(ctx, run, lock, running)
	}
	if err == nil && (len(run.defs) > 0 || o.redeploy.approval.mode == config.ApprovalManual) {
		warn(run.sink, fmt.Sprintf("no checks and no approval: %s still runs the previous release, so production switches back at once",
			run.ar.previous.ToColor))
	}
	return instantRollback(ctx, run, lock.Holder())
}

// instantRollback switches production back to the previous color, which
// still runs the previous release.
func instantRollback(ctx context.Context, run appRun, holder string) error {
	cur, prev, clients := run.ar.current, run.ar.previous, run.clients
	store := release.NewStore(clients.Typed, clients.Namespace)
	r := &release.Record{App: cur.App, Strategy: "rollback", FromColor: cur.ToColor,
		ToColor: prev.ToColor, Images: prev.Images, DeploymentImages: prev.DeploymentImages, Digest: prev.Digest,
		Service: cur.Service, SelectorKey: cur.SelectorKey, Holder: holder}
	copyObjects(ctx, store, r, prev, run.sink)
	rec := release.NewRecorder(store, r, nil)
	bg := strategy.NewBlueGreen(clients, strategy.BlueGreenOptions{
		Service: cur.Service, SelectorKey: cur.SelectorKey, Colors: [2]string{cur.ToColor, prev.ToColor},
		Apply: apply.Options{}, Sink: event.Tee(run.sink, rec), BeforeWrite: recordStarter(rec),
	})
	event.Stamp(run.sink, event.Event{Type: event.Rollback, Stage: strategy.StageCheckEnv, Object: "app " + cur.App,
		Status: fmt.Sprintf("switching back from revision %d (%s) to revision %d (%s)", cur.Revision, cur.ToColor, prev.Revision, prev.ToColor)})
	err := bg.Rollback(ctx, prev.ToColor, prev.ColorImages())
	_ = rec.Finish(outcome(err), err)
	return err
}

// previousColor reads what the previous color runs now, looking as
// strategy's instant Rollback does: the Deployments production would
// select for that color, their containers' images sorted. An error says
// why the instant path would refuse, or that the cluster cannot tell.
func previousColor(ctx context.Context, clients *kube.Clients, ar appRollback) (running []string, found bool, err error) {
	cur, prev := ar.current, ar.previous
	svc, err := clients.Typed.CoreV1().Services(clients.Namespace).Get(ctx, cur.Service, metav1.GetOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("read production service %s: %w", cur.Service, err)
	}
	switch active, ok := svc.Spec.Selector[cur.SelectorKey]; {
	case !ok:
		return nil, false, fmt.Errorf("production service %s has no selector key %q", cur.Service, cur.SelectorKey)
	case active == prev.ToColor:
		return nil, false, fmt.Errorf("production service %s already selects %s", cur.Service, prev.ToColor)
	}
	sel := labels.Set{}
	for k, v := range svc.Spec.Selector {
		sel[k] = v
	}
	sel[cur.SelectorKey] = prev.ToColor
	list, err := clients.Typed.AppsV1().Deployments(clients.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("list deployments: %w", err)
	}
	var deps []appsv1.Deployment
	for _, d := range list.Items {
		if labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
			deps = append(deps, d)
		}
	}
	return strategy.DeploymentImages(deps), len(deps) > 0, nil
}

// needsRedeploy reports whether the previous color no longer runs the
// previous release (its Deployments run other images, or are gone), so
// that rollback must redeploy it there rather than switch back to it.
// running are the color's Deployments' images, compared with the images of
// the release's Deployments (ColorImages: not a Job's, say). An empty
// image list (an old record) compares as the instant path does: equal.
func needsRedeploy(prev *release.Record, running []string, found bool) bool {
	want := prev.ColorImages()
	return !found || (len(want) > 0 && !slices.Equal(running, want))
}

// redeployApp redeploys the previous release to its color from the
// objects its record keeps, through the stages of a blue/green deploy,
// under the lock, keeping a record of its own.
func (o *rollbackOptions) redeployApp(ctx context.Context, run appRun, lock *release.Lock, running []string) error {
	cur, prev, clients := run.ar.current, run.ar.previous, run.clients
	store := release.NewStore(clients.Typed, clients.Namespace)
	objs, err := redeployObjects(ctx, store, prev, running)
	if err != nil {
		return err
	}
	checks, err := o.redeploy.specs(ctx, run, prev.ToColor)
	if err != nil {
		return err
	}
	run.access = access.NewChecker(clients.Typed) // shared with the redeploy's own checks
	if err := run.access.Check(ctx, recordNeeds(clients.Namespace)); err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	ctx, cancel := cancelOnLostLock(ctx, lock, cur.App)
	defer cancel(nil)
	r := &release.Record{App: cur.App, Strategy: "rollback", FromColor: cur.ToColor, ToColor: prev.ToColor,
		Images: prev.Images, DeploymentImages: prev.DeploymentImages, Digest: prev.Digest, Service: cur.Service,
		SelectorKey: cur.SelectorKey, Holder: lock.Holder()}
	copyObjects(ctx, store, r, prev, run.sink) // read by redeployObjects already
	rec := release.NewRecorder(store, r, nil)
	announceRedeploy(run, "redeploy", running)
	err = strategy.NewBlueGreen(clients, o.redeployOptions(ctx, run, objs, checks, store, rec)).Run(ctx)
	return finishRecord(ctx, store, rec, err, run.secrets, run.sink)
}

// dryRunApp says which way the rollback would go: the instant switch, or a
// redeploy, which it dry-runs on the server. It takes no lock and writes
// nothing.
func (o *rollbackOptions) dryRunApp(ctx context.Context, run appRun) error {
	cur, prev, clients := run.ar.current, run.ar.previous, run.clients
	running, found, err := previousColor(ctx, clients, run.ar)
	if err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	if !needsRedeploy(prev, running, found) {
		event.Stamp(run.sink, event.Event{Type: event.ObjectPlanned, Stage: strategy.StageSwitch,
			Object: fmt.Sprintf("Service/%s/%s", clients.Namespace, cur.Service),
			Action: fmt.Sprintf("would switch %s back from %s to %s at once (revision %d)", cur.SelectorKey, cur.ToColor, prev.ToColor, prev.Revision)})
		return nil
	}
	objs, err := redeployObjects(ctx, release.NewStore(clients.Typed, clients.Namespace), prev, running)
	if err != nil {
		return err
	}
	checks, err := o.redeploy.specs(ctx, run, prev.ToColor)
	if err != nil {
		return err
	}
	announceRedeploy(run, "would redeploy", running)
	rec := release.NewRecorder(nil, &release.Record{}, nil)
	return strategy.NewBlueGreen(clients, o.redeployOptions(ctx, run, objs, checks, nil, rec)).Run(ctx)
}

// redeployObjects returns the previous release's objects, which its record
// keeps in a ConfigMap of their own, or refuses when the record keeps none
// or they cannot be read (that ConfigMap deleted by hand, say).
func redeployObjects(ctx context.Context, store *release.Store, prev *release.Record, running []string) ([]manifest.Object, error) {
	objs, err := store.Objects(ctx, prev)
	if err != nil {
		return nil, fmt.Errorf("%w: %s runs %s, not the previous release %v, and the objects of revision %d cannot be read to redeploy it: %w; deploy that release again with cutover deploy",
			strategy.ErrRefused, prev.ToColor, runningText(running), prev.ColorImages(), prev.Revision, err)
	}
	if len(objs) > 0 {
		return objs, nil
	}
	why := prev.ObjectsOmitted
	if why == "" {
		why = "it was written by a cutover that did not keep objects"
	}
	return nil, fmt.Errorf("%w: %s runs %s, not the previous release %v, and the record of revision %d keeps no objects to redeploy it (%s): deploy that release again with cutover deploy",
		strategy.ErrRefused, prev.ToColor, runningText(running), prev.ColorImages(), prev.Revision, why)
}

// copyObjects makes the rollback's record r keep the objects of prev, the
// release it goes back to: production runs that release again, and a
// later rollback to r may need to redeploy it.
func copyObjects(ctx context.Context, store *release.Store, r, prev *release.Record, sink event.Sink) {
	if err := store.CopyObjects(ctx, r, prev); err != nil {
		warn(sink, "the rollback's record keeps no objects, so a later cutover rollback to it can only switch back, not redeploy: "+err.Error())
	}
}

func runningText(images []string) string {
	if len(images) == 0 {
		return "no Deployment"
	}
	return fmt.Sprint(images)
}

// announceRedeploy says what the rollback is about to do (verb:
// "redeploy", or "would redeploy" in a dry run), and that Secrets are not
// part of it.
func announceRedeploy(run appRun, verb string, running []string) {
	cur, prev := run.ar.current, run.ar.previous
	event.Stamp(run.sink, event.Event{Type: event.Rollback, Stage: strategy.StageCheckEnv, Object: "app " + cur.App,
		Status: fmt.Sprintf("%s revision %d (%s) to %s, which runs %s now, and switch production to it from revision %d (%s)",
			verb, prev.Revision, strings.Join(prev.Images, ", "), prev.ToColor, runningText(running), cur.Revision, cur.ToColor)})
	if len(prev.SkippedSecrets) > 0 {
		warn(run.sink, fmt.Sprintf("Secrets are not restored (release records never keep them): %s keep what they hold now, not what revision %d applied",
			strings.Join(prev.SkippedSecrets, ", "), prev.Revision))
	}
}

// specs builds a redeploy's checks for color, by verify stage.
func (f *redeployFlags) specs(ctx context.Context, run appRun, color string) (map[string][]verify.Spec, error) {
	bind := checkBinding{clients: run.clients, app: run.ar.current.App, color: color, roleVar: f.roleVar,
		vars: f.vars.variables, sink: run.sink}
	out := map[string][]verify.Spec{}
	for _, stage := range []string{config.StageStaged, config.StageProd} {
		bind.stage = stage
		specs, err := run.defs.specs(ctx, bind)
		if err != nil {
			return nil, err
		}
		out[stage] = specs
	}
	return out, nil
}

// redeployOptions configure the blue/green run of a redeploy: the stored
// objects as its files, the previous color as its only target, and the
// color rolled back from kept (its release is not rendered for the other
// color anywhere, and keeping it makes rolling back the rollback instant).
// A nil store is a dry run.
func (o *rollbackOptions) redeployOptions(ctx context.Context, run appRun, objs []manifest.Object, checks map[string][]verify.Spec,
	store *release.Store, rec *release.Recorder) strategy.BlueGreenOptions {
	cur, prev := run.ar.current, run.ar.previous
	opts := strategy.BlueGreenOptions{
		Service:     cur.Service,
		SelectorKey: cur.SelectorKey,
		Colors:      [2]string{cur.ToColor, prev.ToColor},
		Render:      storedRender(prev, objs),
		Checks: func(stage, color string) []verify.Spec {
			if color != prev.ToColor {
				return nil
			}
			return checks[verifyStage(stage)]
		},
		IdlePolicy: strategy.IdleKeep,
		DryRun:     store == nil,
		OnEnv: func(active, target string) {
			_ = rec.Change(ctx, func(x *release.Record) { x.FromColor, x.ToColor = active, target })
		},
		Apply:             apply.Options{Force: o.redeploy.force, TakeOver: o.redeploy.takeOver},
		Access:            run.access,
		Sink:              event.Tee(run.sink, event.Redact(rec, run.secrets)),
		SwitchBackTimeout: o.redeploy.rollbackTO,
		EndpointGuard:     o.redeploy.guard.settings(),
	}
	if store == nil {
		return opts
	}
	opts.BeforeWrite = recordStarter(rec)
	if o.redeploy.approval.mode == config.ApprovalManual {
		a := &approver{store: store, rec: rec, timeout: o.redeploy.approval.timeout, notifiers: o.redeploy.approval.notifiers(),
			sink: run.sink, terminal: run.in}
		opts.Confirm = a.confirm
	}
	return opts
}

// storedRender renders from the previous release's record: its objects,
// which carry the names and labels of the color they were rendered for,
// and no other.
func storedRender(prev *release.Record, objs []manifest.Object) renderFunc {
	return func(_ context.Context, color string) ([]manifest.Object, error) {
		if color != prev.ToColor {
			return nil, badInput{fmt.Errorf("the objects of revision %d were rendered for %s, and %s is not the idle color now: they carry %s's names and labels and cannot be deployed as %s; deploy that release again with cutover deploy",
				prev.Revision, prev.ToColor, prev.ToColor, prev.ToColor, color)}
		}
		out := make([]manifest.Object, len(objs))
		for i, obj := range objs {
			out[i] = manifest.Object{Unstructured: obj.DeepCopy(), Source: obj.Source}
		}
		return out, nil
	}
}
