package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/verify"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Strategies.
const (
	Rolling   = "rolling"
	BlueGreen = "blue-green"
	Canary    = "canary"
)

// RenderFunc renders a release's files for one blue/green color.
type RenderFunc = func(ctx context.Context, color string) ([]manifest.Object, error)

// DeployRequest is one release of an app.
type DeployRequest struct {
	Run
	Strategy string // Rolling, BlueGreen or Canary
	// Objects are the release's objects; for blue/green, rendered for the
	// first color (the release's digest and images), Render rendering them
	// for each color.
	Objects []manifest.Object
	Render  RenderFunc
	// BlueGreen configures the blue/green strategy.
	BlueGreen BlueGreenSettings
	// Canary configures the canary strategy.
	Canary CanarySettings
	// Checks run at Verify (rolling), or Verify Staged and Verify Prod for
	// each color (blue/green); a canary runs each at the analysis step
	// that names it, the others at Verify, after promotion.
	Checks CheckPlan
	// built are Checks, built by Deploy.
	built stageChecks
	// Approval, if set, makes blue/green wait at Confirm.
	Approval *Approval
	Apply    apply.Options
	// EndpointGuard watches the release's Services while it waits (package
	// drift).
	EndpointGuard drift.Settings
	// StrictHazards refuses a release the zero-downtime pre-flight finds
	// hazards in, instead of warning (package hazard).
	StrictHazards bool
	// DryRun validates with a server-side dry run and writes nothing: no
	// lock, no record.
	DryRun bool
	// NoRollback leaves a failed rolling update as it is.
	NoRollback bool
	// RollbackTimeout bounds a rolling update's rollback and blue/green's
	// switch back; they run even when the run's ctx has ended.
	RollbackTimeout time.Duration
	// UntilConfirm stops a blue/green release after Verify Staged, its
	// record pending (release.OutcomePending) for PendingFor: Promote
	// continues it, Abort ends it. Approval's notifiers, if any, are told
	// (its Commands then word the promote and the abort); nothing waits.
	UntilConfirm bool
	PendingFor   time.Duration
}

// BlueGreenSettings configure a blue/green release (strategy.BlueGreenOptions).
type BlueGreenSettings struct {
	Service, SelectorKey string
	Colors               [2]string
	IdlePolicy           string
	ScaleDownDelay       time.Duration
	// Managed: the files hold a plain Deployment and the production
	// Service, from which Render derives the colors; a production Service
	// without the selector key is adopted.
	Managed bool
}

// Deploy releases req.Objects. Errors: bad input wraps
// strategy.ErrRefused (nothing was written); a failed release is a
// *strategy.Failure; a rejected one wraps ErrRejected. Secret values are
// masked in the error's text.
func Deploy(ctx context.Context, req DeployRequest) error {
	var err error
	req.Run = req.Run.withRevision()
	switch req.Strategy {
	case Rolling:
		if req.built, err = req.Checks.forColors(ctx, req.Run); err == nil {
			err = deployRolling(ctx, req)
		}
	case BlueGreen:
		if req.built, err = req.Checks.forColors(ctx, req.Run, req.BlueGreen.Colors[:]...); err == nil {
			err = deployBlueGreen(ctx, req)
		}
	case Canary:
		req.built = func(string, string) []verify.Spec { return nil } // canaryOptions builds them
		err = deployCanary(ctx, req)
	default:
		err = fmt.Errorf("%w: unknown strategy %q", strategy.ErrRefused, req.Strategy)
	}
	return event.RedactError(err, req.Secrets)
}

// deployRolling runs a rolling update under the app's lock, keeping its
// record with the release's objects. The lock is taken, and the record
// started, at the first write: a release that Validate refuses leaves
// neither.
func deployRolling(ctx context.Context, req DeployRequest) error {
	opts := req.rollingOptions()
	if req.DryRun {
		return strategy.NewRolling(req.Clients, opts).Run(ctx, req.Objects)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	store := release.NewStore(req.Clients.Typed, req.Clients.Namespace)
	rec := release.NewRecorder(store, &release.Record{App: req.App, Strategy: Rolling,
		Digest: manifest.Digest(req.Objects), Started: time.Now().UTC()}, req.sinkLog())
	keep := &keeper{rec: rec, run: req.Run, secrets: req.Secrets, sink: req.Sink}
	var s *session
	opts.Needs = RecordNeeds(req.Clients.Namespace)
	opts.Sink = req.recorded(rec)
	opts.BeforeWrite = func(bctx context.Context) (err error) {
		if s, err = acquire(ctx, req.Run, cancel); err != nil {
			return err
		}
		if _, err := s.closeInterrupted(bctx, rec.Record().Digest); err != nil {
			return err
		}
		_ = rec.Change(bctx, func(x *release.Record) { x.Holder = s.lock.Holder(); setImages(x, req.Objects, req.Secrets) })
		keep.set(bctx, req.Objects, false)
		return keep.start(bctx)
	}
	err := strategy.NewRolling(req.Clients, opts).Run(ctx, req.Objects)
	if s == nil {
		return err // refused before the first write: no lock, no record
	}
	defer s.unlock()
	return s.finish(ctx, rec, err)
}

func (req DeployRequest) rollingOptions() strategy.RollingOptions {
	return strategy.RollingOptions{
		Apply: req.Apply, Checks: req.built(strategy.StageVerify, ""), DryRun: req.DryRun, NoRollback: req.NoRollback,
		RollbackTimeout: req.RollbackTimeout, Sink: req.Sink,
		EndpointGuard: req.EndpointGuard, StrictHazards: req.StrictHazards,
	}
}

// newRecord is the record of this run, stored at its first write.
func (s *session) newRecord(strategyName string, objs []manifest.Object) *release.Recorder {
	rec := &release.Record{App: s.App, Strategy: strategyName, Holder: s.lock.Holder(),
		Digest: manifest.Digest(objs), Started: time.Now().UTC()}
	setImages(rec, objs, s.Secrets)
	return release.NewRecorder(s.store, rec, s.sinkLog())
}

// setImages sets the images a record names from the release's objects,
// masking secret values (a private tag may be a secret variable).
// Deployment images are what rollback compares with what a color runs, so
// they are read as a color is; Images also counts the other workloads (a
// migration Job).
func setImages(rec *release.Record, objs []manifest.Object, secrets []string) {
	mask := event.Masker(secrets)
	rec.Images, rec.DeploymentImages = manifest.Images(objs), manifest.DeploymentImages(objs)
	for _, list := range [][]string{rec.Images, rec.DeploymentImages} {
		for i := range list {
			list[i] = mask(list[i])
		}
	}
}

// DefaultApp names a rolling update's app when nothing else does: its
// first workload's name (Deployment, StatefulSet, DaemonSet), else its
// first object's, made a DNS label (an app name is one: it names the lock
// and the records).
func DefaultApp(objs []manifest.Object) string {
	if len(objs) == 0 {
		return ""
	}
	name := objs[0].GetName()
	for _, o := range objs {
		if k := o.GetKind(); k == "Deployment" || k == "StatefulSet" || k == "DaemonSet" {
			name = o.GetName()
			break
		}
	}
	name = strings.ReplaceAll(strings.ToLower(name), ".", "-")
	if len(name) > validation.DNS1123LabelMaxLength {
		name = strings.TrimRight(name[:validation.DNS1123LabelMaxLength], "-")
	}
	return name
}
