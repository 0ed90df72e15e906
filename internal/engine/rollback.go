package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// AppRollback is what a rollback of an app goes between: the release to
// leave and the one to go back to, from the app's records.
type AppRollback struct {
	Current, Previous *release.Record
}

// StrategyRollback is the strategy a rollback's record names.
const StrategyRollback = "rollback"

// FindRollback reads app's records and finds the release to go back to.
// ok is false when app has none (a name given to rollback may then be a
// Deployment's). An app without a release to go back to is refused. The
// app's latest record says how it is released: a rolling update goes back
// to the latest earlier release of other objects, blue/green to the
// release the active color came from.
func FindRollback(ctx context.Context, store *release.Store, app string) (ar AppRollback, ok bool, err error) {
	recs, err := store.List(ctx, app)
	if err != nil || len(recs) == 0 {
		return ar, false, nil //nolint:nilerr // not an app with readable records
	}
	ar, err = RollbackOf(app, recs)
	return ar, true, err
}

// RollbackOf finds the release to go back to among app's records, newest
// first, as FindRollback does: for a front end that holds them already.
func RollbackOf(app string, recs []*release.Record) (AppRollback, error) {
	if len(recs) > 0 && isRolling(recs[0]) {
		return rollingRollback(app, recs)
	}
	var ar AppRollback
	recs = slices.DeleteFunc(slices.Clone(recs), isRolling)
	for _, r := range recs {
		if r.Outcome != release.OutcomeSucceeded || r.ToColor == "" {
			continue
		}
		switch {
		case ar.Current == nil:
			ar.Current = r
		case r.ToColor == ar.Current.FromColor:
			ar.Previous = r
			return ar, nil
		}
	}
	if ar.Current == nil {
		return ar, fmt.Errorf("%w: app %s has no successful release to roll back", strategy.ErrRefused, app)
	}
	return ar, fmt.Errorf("%w: app %s: no earlier release ran on %s: nothing to roll back to",
		strategy.ErrRefused, app, orNone(ar.Current.FromColor))
}

// isRolling reports a record of a rolling update or a canary, or of a
// rollback of one: they go back by redeploying an earlier release's
// objects, in a rolling update (a canary's go back at once, without steps:
// the earlier release ran in production already).
func isRolling(r *release.Record) bool {
	return r.Strategy == Rolling || r.Strategy == Canary || (r.Strategy == StrategyRollback && r.Service == "")
}

// rollingRollback finds, among a rolling app's records (newest first), the
// latest successful release and the latest successful one before it that
// released other objects.
func rollingRollback(app string, recs []*release.Record) (AppRollback, error) {
	var ar AppRollback
	for _, r := range recs {
		if !isRolling(r) || r.Outcome != release.OutcomeSucceeded {
			continue
		}
		switch {
		case ar.Current == nil:
			ar.Current = r
		case r.Digest != ar.Current.Digest:
			ar.Previous = r
			return ar, nil
		}
	}
	if ar.Current == nil {
		return ar, fmt.Errorf("%w: app %s has no successful release to roll back", strategy.ErrRefused, app)
	}
	return ar, fmt.Errorf("%w: app %s: no earlier successful release of other objects than revision %d: nothing to roll back to",
		strategy.ErrRefused, app, ar.Current.Revision)
}

// ErrCannotRedeploy is wrapped by a rollback refused because the previous
// release must be redeployed and its record cannot give its objects: only
// a deploy of that release's files can bring it back.
var ErrCannotRedeploy = errors.New("deploy that release again")

// RollbackRequest takes an app's production back to its previous release.
// The settings after AppRollback apply to a redeploy only.
type RollbackRequest struct {
	Run
	AppRollback
	// Checks run in a redeploy: at Verify Staged and Verify Prod for the
	// previous release's color, or at a rolling app's Verify.
	Checks          CheckPlan
	built           stageChecks
	Approval        *Approval
	Apply           apply.Options
	EndpointGuard   drift.Settings
	RollbackTimeout time.Duration // bound on a redeploy's switch back
	// DryRun says which way the rollback would go, and dry-runs a
	// redeploy on the server; no lock, no record.
	DryRun bool
	// By names the person who asked, when a front end knows them (the
	// dashboard), and Comment what they said: the rollback's record keeps
	// both.
	By, Comment string
}

// Rollback takes the app's production back to the previous release: at
// once when the previous color still runs it, else by redeploying it there
// from the objects its record keeps, through the stages of a blue/green
// deploy. It holds the app's lock, and the choice is made under it, so no
// other run changes the colors meanwhile.
func Rollback(ctx context.Context, req RollbackRequest) error {
	req.App = req.Current.App
	var err error
	colors := []string{req.Previous.ToColor}
	if isRolling(req.Current) {
		colors = nil
	}
	if req.built, err = req.Checks.forColors(ctx, req.Run, colors...); err != nil {
		return event.RedactError(err, req.Secrets)
	}
	switch {
	case isRolling(req.Current):
		err = req.rolling(ctx)
	case req.DryRun:
		err = req.dryRun(ctx)
	default:
		err = req.locked(ctx)
	}
	return event.RedactError(err, req.Secrets)
}

func (req RollbackRequest) locked(ctx context.Context) error {
	s, ctx, err := lockApp(ctx, req.Run)
	if err != nil {
		return err
	}
	defer s.unlock()
	// When the cluster cannot tell, the instant path decides, and explains
	// a refusal, as it always did.
	running, found, err := req.previousColor(ctx)
	if err == nil && needsRedeploy(req.Previous, running, found) {
		return req.redeploy(ctx, s, running)
	}
	if err == nil && (req.hasChecks() || req.Approval != nil) {
		warn(req.Sink, fmt.Sprintf("no checks and no approval: %s still runs the previous release, so production switches back at once",
			req.Previous.ToColor))
	}
	return req.instant(ctx, s)
}

func (req RollbackRequest) hasChecks() bool {
	c := req.Previous.ToColor
	return len(req.built(strategy.StageVerifyStaged, c))+len(req.built(strategy.StageVerifyProd, c)) > 0
}

// instant switches production back to the previous color, which still
// runs the previous release.
func (req RollbackRequest) instant(ctx context.Context, s *session) error {
	cur, prev := req.Current, req.Previous
	rec := s.rollbackRecord(ctx, req.AppRollback, req.By, req.Comment)
	bg := strategy.NewBlueGreen(req.Clients, strategy.BlueGreenOptions{
		Service: cur.Service, SelectorKey: cur.SelectorKey, Colors: [2]string{cur.ToColor, prev.ToColor},
		Apply: apply.Options{}, Sink: req.recorded(rec), BeforeWrite: recordStarter(rec),
	})
	event.Stamp(req.Sink, event.Event{Type: event.Rollback, Stage: strategy.StageCheckEnv, Object: "app " + cur.App,
		Status: event.SwitchingBack, Message: fmt.Sprintf("from revision %d (%s) to revision %d (%s)", cur.Revision, cur.ToColor, prev.Revision, prev.ToColor)})
	err := bg.Rollback(ctx, prev.ToColor, prev.ColorImages())
	_ = rec.Finish(Outcome(err), err)
	return err
}

// rollbackRecord is the record of a rollback. It keeps the objects of the
// release it goes back to: production runs that release again, and a later
// rollback to this one may need to redeploy it.
func (s *session) rollbackRecord(ctx context.Context, ar AppRollback, by, comment string) *release.Recorder {
	cur, prev := ar.Current, ar.Previous
	r := &release.Record{App: cur.App, Strategy: StrategyRollback, FromColor: cur.ToColor, ToColor: prev.ToColor,
		Images: prev.Images, DeploymentImages: prev.DeploymentImages, Digest: prev.Digest, Service: cur.Service,
		SelectorKey: cur.SelectorKey, Holder: s.lock.Holder(), By: by, Comment: comment}
	if err := s.store.CopyObjects(ctx, r, prev); err != nil {
		warn(s.Sink, "the rollback's record keeps no objects, so a later rollback to it can only switch back, not redeploy: "+err.Error())
	}
	return release.NewRecorder(s.store, r, s.sinkLog())
}

// previousColor reads what the previous color runs now, looking as
// strategy's instant Rollback does: the Deployments production would
// select for that color, their containers' images sorted. An error says
// why the instant path would refuse, or that the cluster cannot tell.
func (req RollbackRequest) previousColor(ctx context.Context) (running []string, found bool, err error) {
	cur, prev, c := req.Current, req.Previous, req.Clients
	svc, err := c.Typed.CoreV1().Services(c.Namespace).Get(ctx, cur.Service, metav1.GetOptions{})
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
	list, err := c.Typed.AppsV1().Deployments(c.Namespace).List(ctx, metav1.ListOptions{})
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

// redeploy redeploys the previous release to its color from the objects
// its record keeps, through the stages of a blue/green deploy, keeping a
// record of its own.
func (req RollbackRequest) redeploy(ctx context.Context, s *session, running []string) error {
	objs, err := redeployObjects(ctx, s.store, req.Previous, notRunning(req.Previous, running))
	if err != nil {
		return err
	}
	checker := access.NewChecker(req.Clients.Typed) // shared with the redeploy's own checks
	if err := checker.Check(ctx, RecordNeeds(req.Clients.Namespace)); err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	rec := s.rollbackRecord(ctx, req.AppRollback, req.By, req.Comment)
	req.announce("redeploy", running)
	err = strategy.NewBlueGreen(req.Clients, req.redeployOptions(ctx, objs, bgRun{store: s.store, rec: rec, access: checker})).Run(ctx)
	return s.finish(ctx, rec, err)
}

// dryRun says which way the rollback would go: the instant switch, or a
// redeploy, which it dry-runs on the server. It takes no lock and writes
// nothing.
func (req RollbackRequest) dryRun(ctx context.Context) error {
	cur, prev, c := req.Current, req.Previous, req.Clients
	running, found, err := req.previousColor(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	if !needsRedeploy(prev, running, found) {
		event.Stamp(req.Sink, event.Event{Type: event.ObjectPlanned, Stage: strategy.StageSwitch,
			Object: fmt.Sprintf("Service/%s/%s", c.Namespace, cur.Service),
			Action: fmt.Sprintf("would switch %s back from %s to %s at once (revision %d)", cur.SelectorKey, cur.ToColor, prev.ToColor, prev.Revision)})
		return nil
	}
	objs, err := redeployObjects(ctx, release.NewStore(c.Typed, c.Namespace), prev, notRunning(prev, running))
	if err != nil {
		return err
	}
	req.announce("would redeploy", running)
	rec := release.NewRecorder(nil, &release.Record{}, nil)
	return strategy.NewBlueGreen(c, req.redeployOptions(ctx, objs, bgRun{rec: rec})).Run(ctx)
}

// redeployObjects returns the previous release's objects, which its record
// keeps in a ConfigMap of their own, or refuses when the record keeps none
// or they cannot be read (that ConfigMap deleted by hand, say). why says
// why they are needed.
func redeployObjects(ctx context.Context, store *release.Store, prev *release.Record, why string) ([]manifest.Object, error) {
	objs, err := store.Objects(ctx, prev)
	if err != nil {
		return nil, fmt.Errorf("%w: %s, and the objects of revision %d cannot be read to redeploy it: %w; %w",
			strategy.ErrRefused, why, prev.Revision, err, ErrCannotRedeploy)
	}
	if len(objs) > 0 {
		return objs, nil
	}
	omitted := prev.ObjectsOmitted
	if omitted == "" {
		omitted = "it was written by a cutover that did not keep objects"
	}
	return nil, fmt.Errorf("%w: %s, and the record of revision %d keeps no objects to redeploy it (%s): %w",
		strategy.ErrRefused, why, prev.Revision, omitted, ErrCannotRedeploy)
}

// notRunning says that the previous color no longer runs the previous
// release: why a blue/green rollback redeploys it.
func notRunning(prev *release.Record, running []string) string {
	return fmt.Sprintf("%s runs %s, not the previous release %v", prev.ToColor, runningText(running), prev.ColorImages())
}

func runningText(images []string) string {
	if len(images) == 0 {
		return "no Deployment"
	}
	return fmt.Sprint(images)
}

// announce says what the rollback is about to do (verb: "redeploy", or
// "would redeploy" in a dry run), and that Secrets are not part of it.
func (req RollbackRequest) announce(verb string, running []string) {
	cur, prev := req.Current, req.Previous
	event.Stamp(req.Sink, event.Event{Type: event.Rollback, Stage: strategy.StageCheckEnv, Object: "app " + cur.App,
		Status: verb, Message: fmt.Sprintf("revision %d (%s) to %s, which runs %s now, and switch production to it from revision %d (%s)",
			prev.Revision, strings.Join(prev.Images, ", "), prev.ToColor, runningText(running), cur.Revision, cur.ToColor)})
	req.warnSecrets()
}

// warnSecrets says that a redeploy leaves the release's Secrets as they
// are.
func (req RollbackRequest) warnSecrets() {
	if prev := req.Previous; len(prev.SkippedSecrets) > 0 {
		warn(req.Sink, fmt.Sprintf("Secrets are not restored (release records never keep them): %s keep what they hold now, not what revision %d applied",
			strings.Join(prev.SkippedSecrets, ", "), prev.Revision))
	}
}

// redeployOptions configure the blue/green run of a redeploy: the stored
// objects as its files, the previous color as its only target, and the
// color rolled back from kept (its release is not rendered for the other
// color anywhere, and keeping it makes rolling back the rollback instant).
// A run without a store is a dry run.
func (req RollbackRequest) redeployOptions(ctx context.Context, objs []manifest.Object, r bgRun) strategy.BlueGreenOptions {
	cur, prev := req.Current, req.Previous
	opts := strategy.BlueGreenOptions{
		Service:           cur.Service,
		SelectorKey:       cur.SelectorKey,
		Colors:            [2]string{cur.ToColor, prev.ToColor},
		Render:            storedRender(prev, objs),
		Checks:            req.built,
		IdlePolicy:        strategy.IdleKeep,
		DryRun:            r.store == nil,
		OnEnv:             r.onEnv(ctx),
		Apply:             req.Apply,
		Access:            r.access,
		Sink:              req.recorded(r.rec),
		SwitchBackTimeout: req.RollbackTimeout,
		EndpointGuard:     req.EndpointGuard,
	}
	if r.store == nil {
		return opts
	}
	opts.BeforeWrite = recordStarter(r.rec)
	opts.Confirm = r.confirm(req.Approval, req.Sink)
	return opts
}

// storedRender renders from the previous release's record: its objects,
// which carry the names and labels of the color they were rendered for,
// and no other.
func storedRender(prev *release.Record, objs []manifest.Object) RenderFunc {
	return func(_ context.Context, color string) ([]manifest.Object, error) {
		if color != prev.ToColor {
			return nil, fmt.Errorf("%w: the objects of revision %d were rendered for %s, and %s is not the idle color now: they carry %s's names and labels and cannot be deployed as %s; %w",
				strategy.ErrRefused, prev.Revision, prev.ToColor, prev.ToColor, prev.ToColor, color, ErrCannotRedeploy)
		}
		out := make([]manifest.Object, len(objs))
		for i, obj := range objs {
			out[i] = manifest.Object{Unstructured: obj.DeepCopy(), Source: obj.Source}
		}
		return out, nil
	}
}
