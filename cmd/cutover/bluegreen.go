package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

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

// blueGreenFlags configure --strategy blue-green (template mode).
type blueGreenFlags struct {
	service        string
	selectorKey    string
	roleVar        string
	colors         []string
	app            string
	idlePolicy     string
	scaleDownDelay time.Duration
	managed        bool
}

func (f *blueGreenFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.service, "service", "", "blue-green: the production Service; its selector names the active color")
	fs.StringVar(&f.selectorKey, "selector-key", "role", "blue-green: the production Service's selector key that holds the color")
	fs.StringVar(&f.roleVar, "role-var", "TARGET_ROLE", "blue-green: the variable in the files that takes the target color")
	fs.StringSliceVar(&f.colors, "colors", []string{"blue", "green"}, "blue-green: the two colors; the first is used on a first deploy")
	fs.StringVar(&f.app, "app", "", "blue-green: the app's name in records, locks and approvals (default: --service)")
	fs.StringVar(&f.idlePolicy, "idle-policy", strategy.IdleKeep, "blue-green: after the switch, keep the old color (hot backup), scale-down, or update it to the new release")
	fs.BoolVar(&f.managed, "managed", false, "blue-green managed mode: the files hold a plain Deployment NAME and the --service; cutover applies NAME-<color> copies with <selector-key>=<color> added to their selector, a test Service <service>-test-<color>, and owns the production selector (a plain production Service is adopted)")
	fs.DurationVar(&f.scaleDownDelay, "scale-down-delay", 30*time.Second, "blue-green: wait before scaling the old color down, for connections and endpoint changes to settle")
}

func (f *blueGreenFlags) validate() error {
	switch {
	case f.service == "":
		return usageError{fmt.Errorf("--strategy blue-green needs --service (the production Service)")}
	case len(f.colors) != 2 || f.colors[0] == f.colors[1] || f.colors[0] == "" || f.colors[1] == "":
		return usageError{fmt.Errorf("--colors %q: want two different colors, e.g. blue,green", strings.Join(f.colors, ","))}
	}
	switch f.idlePolicy {
	case strategy.IdleKeep, strategy.IdleScaleDown, strategy.IdleUpdate:
		return nil
	}
	return usageError{fmt.Errorf("--idle-policy %q: want keep, scale-down or update", f.idlePolicy)}
}

// bgRun is what a blue/green run needs besides its flags.
type bgRun struct {
	clients *kube.Clients
	sink    event.Sink
	checks  map[[2]string][]verify.Spec // by verify stage (config.StageStaged, StageProd) and color
	render  func(context.Context, string) ([]manifest.Object, error)
	objects []manifest.Object // rendered for the first color: digest and images
	secrets []string
	in      io.Reader // a terminal to ask "Ready to go?" on, or nil
	access  *access.Checker
}

// runBlueGreen deploys with the blue/green strategy, holding the app's
// lock and keeping its release record.
func (o *deployOptions) runBlueGreen(ctx context.Context, r bgRun) (err error) {
	app := o.bg.appName()
	if o.dryRun { // writes nothing: no lock, no record
		return o.blueGreen(ctx, r, nil, release.NewRecorder(nil, &release.Record{}, nil), "").Run(ctx)
	}
	r.access = access.NewChecker(r.clients.Typed)
	if err := o.preflight(ctx, r); err != nil {
		return err
	}
	lock, err := release.Acquire(context.WithoutCancel(ctx), r.clients.Typed, r.clients.Namespace, app,
		release.LockOptions{Holder: holderID(), Dead: release.DeadOnThisHost})
	if err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	defer releaseLock(lock, r.sink)
	ctx, cancel := cancelOnLostLock(ctx, lock, app)
	defer cancel(nil)
	store := release.NewStore(r.clients.Typed, r.clients.Namespace)
	rec, resume, err := o.startRecord(ctx, store, r, lock.Holder())
	if err != nil {
		return err
	}
	err = o.blueGreen(ctx, r, store, rec, resume).Run(ctx)
	return finishRecord(ctx, store, rec, err, r.secrets, r.sink)
}

// preflight refuses, before the lock is taken, a run that lacks the
// permissions of the lock and the records or that Check Env would refuse.
// The two are asked at once; a missing permission is the answer, and what
// Check Env reported is shown only when there is none.
func (o *deployOptions) preflight(ctx context.Context, r bgRun) error {
	denied := make(chan error, 1)
	go func() { denied <- r.access.Check(ctx, recordNeeds(r.clients.Namespace)) }()
	var seen event.Collector
	quiet := r
	quiet.sink = &seen
	err := o.blueGreen(ctx, quiet, nil, release.NewRecorder(nil, &release.Record{}, nil), "").Precheck(ctx)
	if derr := <-denied; derr != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, derr)
	}
	for _, e := range seen.Events() {
		r.sink.Emit(e)
	}
	return err
}

// finishRecord ends a locked run's record with the run's outcome err (and
// the reason ctx ended, such as a lost lock), then prunes the app's old
// records, and returns err. Revisions count from 1 and are never reused,
// so while this run's revision is within keepRecords there is nothing to
// prune and no list to make.
func finishRecord(ctx context.Context, store *release.Store, rec *release.Recorder, err error, secrets []string, sink event.Sink) error {
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(err, cause) {
		err = fmt.Errorf("%w (%w)", err, cause) // e.g. the lock was lost
	}
	if lost := rec.ObjectsLost(); lost != nil {
		warn(sink, "the release record keeps no objects, so cutover rollback to this release can only switch back, not redeploy: "+lost.Error())
	}
	if ferr := rec.Finish(outcome(err), redactErr(err, secrets)); ferr != nil && rec.Started() {
		warn(sink, "the release record was not updated: "+ferr.Error())
	}
	if r := rec.Record(); r.Revision > keepRecords {
		if perr := store.Prune(context.WithoutCancel(ctx), r.App, keepRecords); perr != nil {
			warn(sink, "old release records were not pruned: "+perr.Error())
		}
	}
	return err
}

// cancelOnLostLock returns a context that ends, with the reason as its
// cause, when the app's lock is lost: a run must not go on writing what
// another run may now be writing too.
func cancelOnLostLock(ctx context.Context, lock *release.Lock, app string) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-lock.Lost():
			cancel(fmt.Errorf("lost the lock of app %s: %w", app, lock.Err()))
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// recordNeeds are the permissions of the lock and the release records.
func recordNeeds(ns string) []access.Need {
	return append(access.Verbs(ns, access.Leases, "the per-app lock", "get", "create", "update", "delete"),
		access.Verbs(ns, access.ConfigMaps, "release records and approvals", "get", "list", "watch", "create", "update", "delete")...)
}

func warn(sink event.Sink, msg string) {
	event.Stamp(sink, event.Event{Type: event.Warning, Message: msg})
}

// keepRecords is how many release records of an app are kept.
const keepRecords = 30

func (o *deployOptions) blueGreen(ctx context.Context, r bgRun, store *release.Store, rec *release.Recorder, resume string) *strategy.BlueGreen {
	keep := &keeper{rec: rec, secrets: r.secrets, sink: r.sink}
	opts := strategy.BlueGreenOptions{
		Service:        o.bg.service,
		SelectorKey:    o.bg.selectorKey,
		Colors:         [2]string{o.bg.colors[0], o.bg.colors[1]},
		Render:         r.render,
		Checks:         func(stage, color string) []verify.Spec { return r.checks[[2]string{verifyStage(stage), color}] },
		IdlePolicy:     o.bg.idlePolicy,
		ScaleDownDelay: o.bg.scaleDownDelay,
		Resume:         resume,
		DryRun:         o.dryRun,
		Adopt:          o.bg.managed,
		BeforeWrite:    keep.start,
		OnEnv: func(active, target string) {
			_ = rec.Change(ctx, func(x *release.Record) { x.FromColor, x.ToColor = active, target })
		},
		Apply:             apply.Options{Force: o.force, TakeOver: o.takeOver, TakeOwnership: o.takeOwn},
		Access:            r.access,
		Sink:              event.Tee(r.sink, event.Redact(rec, r.secrets)),
		SwitchBackTimeout: o.rollbackTO,
		EndpointGuard:     o.guard.settings(),
		StrictHazards:     o.strict,
	}
	if store != nil { // not a dry run
		opts.Render = keep.keep(r.render)
	}
	if o.approval.mode == "manual" {
		a := &approver{store: store, rec: rec, timeout: o.approval.timeout, notifiers: o.approval.notifiers(),
			sink: r.sink, terminal: r.in}
		opts.Confirm = a.confirm
	}
	return strategy.NewBlueGreen(r.clients, opts)
}

// renderFunc renders the files for one color.
type renderFunc = func(ctx context.Context, color string) ([]manifest.Object, error)

// prerendered renders the files for every color at once, in the
// background, while the run's first requests are in flight: the first
// call for a color takes that rendering, later calls render again (the
// callers may change the objects they are given).
func prerendered(ctx context.Context, render renderFunc, colors []string) renderFunc {
	type rendered struct {
		objs []manifest.Object
		err  error
	}
	ready := map[string]chan rendered{}
	for _, c := range colors {
		ch := make(chan rendered, 1)
		ready[c] = ch
		go func() {
			objs, err := render(ctx, c)
			ch <- rendered{objs, err}
		}()
	}
	var mu sync.Mutex
	return func(ctx context.Context, color string) ([]manifest.Object, error) {
		mu.Lock()
		ch := ready[color]
		delete(ready, color)
		mu.Unlock()
		if ch == nil {
			return render(ctx, color)
		}
		got := <-ch
		return got.objs, got.err
	}
}

// keeper stores a run's record at its first write and, in deploys, keeps
// in it the objects rendered for the run's target color, so that
// `cutover rollback APP` can redeploy this release later without its
// files.
type keeper struct {
	rec     *release.Recorder
	secrets []string
	sink    event.Sink
	pending sync.WaitGroup // objects being encoded for the record
}

// keep returns render, keeping what it renders for the target color. The
// target is known from Check Env (OnEnv) before Deploy renders; a later
// rendering for the other color (the idle policy) is not this release's.
// The objects are encoded while Deploy's dry run goes on.
func (k *keeper) keep(render renderFunc) renderFunc {
	return func(ctx context.Context, color string) ([]manifest.Object, error) {
		objs, err := render(ctx, color)
		if err != nil || k.rec.Started() || color != k.rec.Record().ToColor {
			return objs, err
		}
		own := make([]manifest.Object, len(objs)) // the run may change objs meanwhile
		for i, o := range objs {
			own[i] = manifest.Object{Unstructured: o.DeepCopy(), Source: o.Source}
		}
		k.pending.Go(func() {
			_ = k.rec.Change(ctx, func(x *release.Record) { // in memory until Start
				x.SetObjects(own, k.secrets)
				setImages(x, own, k.secrets) // an image may name ${TARGET_ROLE}
			})
			if why := k.rec.Record().ObjectsOmitted; why != "" {
				warn(k.sink, "the release record keeps none of the objects, so cutover rollback can only switch back to this release, not redeploy it: "+why)
			}
		})
		return objs, err
	}
}

// start stores the record: the strategy's BeforeWrite.
func (k *keeper) start(ctx context.Context) error {
	k.pending.Wait()
	return k.rec.Start(ctx)
}

// recordStarter stores a run's record at its first write (the strategy's
// BeforeWrite).
func recordStarter(rec *release.Recorder) func(context.Context) error {
	return (&keeper{rec: rec}).start
}

// startRecord prepares this run's record, stored at the first write. A record left "running" by a run
// that died is closed as aborted; if it was the same release and had
// switched production, its target color is returned to resume from.
func (o *deployOptions) startRecord(ctx context.Context, store *release.Store, r bgRun, holder string) (*release.Recorder, string, error) {
	app := o.bg.appName()
	digest := manifest.Digest(r.objects)
	resume, err := closeInterrupted(ctx, store, app, digest)
	if err != nil {
		return nil, "", err
	}
	rec := &release.Record{App: app, Strategy: "blue-green", Holder: holder,
		Digest: digest, Service: o.bg.service, SelectorKey: o.bg.selectorKey, Started: time.Now().UTC()}
	setImages(rec, r.objects, r.secrets) // the target color's, once Deploy renders them (keeper)
	return release.NewRecorder(store, rec, nil), resume, nil
}

// setImages sets the images a record names from the release's objects,
// masking secret values (a private tag may be a --secret-var). Deployment
// images are what cutover rollback APP compares with what a color runs, so
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

// closeInterrupted marks the app's latest record aborted if it is still
// running (its run died: we hold the lock). It returns the color that run
// released the same objects to, to resume from if it had switched.
func closeInterrupted(ctx context.Context, store *release.Store, app, digest string) (string, error) {
	prev, err := store.Latest(ctx, app)
	if err != nil || prev == nil || prev.Outcome != release.OutcomeRunning {
		return "", nil //nolint:nilerr // no readable previous record: nothing to resume
	}
	prev.Outcome, prev.Error, prev.Finished = release.OutcomeAborted, "interrupted: the run stopped without finishing", time.Now().UTC()
	if prev.Approval != nil && prev.Approval.State == release.ApprovalPending {
		prev.Approval.State = release.ApprovalExpired
	}
	if err := store.Update(ctx, prev); err != nil {
		return "", fmt.Errorf("%w: close interrupted record: %w", strategy.ErrRefused, err)
	}
	if prev.Digest != digest {
		return "", nil
	}
	// The strategy resumes only if production selects this color, which
	// only that run's switch can have done: the record's stage list, written
	// in the background, may lag behind a kill.
	return prev.ToColor, nil
}

// outcome names how a run ended, for its record.
func outcome(err error) string {
	switch {
	case err == nil:
		return release.OutcomeSucceeded
	case strategy.IsRolledBack(err):
		return release.OutcomeRolledBack
	case errors.Is(err, strategy.ErrRefused), errors.Is(err, errRejected):
		return release.OutcomeAborted
	}
	return release.OutcomeFailed
}

func releaseLock(l *release.Lock, sink event.Sink) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Release(ctx); err != nil {
		warn(sink, "the lock was not released; it expires by itself: "+err.Error())
	}
}

// holderID names this run in the app's lock: host and pid (which lets a
// rerun on the same host take over from a killed run at once), plus the CI
// job when there is one.
func holderID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	id := fmt.Sprintf("%s/pid %d", host, os.Getpid())
	if tag := ciJob(); tag != "" {
		id += " (" + tag + ")"
	}
	return id
}

func ciJob() string {
	switch {
	case os.Getenv("BUILD_TAG") != "":
		return os.Getenv("BUILD_TAG") // Jenkins: jenkins-JOB-NUMBER
	case os.Getenv("GITHUB_RUN_ID") != "":
		return "github run " + os.Getenv("GITHUB_RUN_ID")
	case os.Getenv("CI_JOB_ID") != "":
		return "gitlab job " + os.Getenv("CI_JOB_ID")
	}
	return ""
}

func (f *blueGreenFlags) appName() string {
	if f.app != "" {
		return f.app
	}
	return f.service
}

// verifyStage maps a blue/green stage to the config file's stage name.
func verifyStage(stage string) string {
	if stage == strategy.StageVerifyStaged {
		return config.StageStaged
	}
	return config.StageProd
}
