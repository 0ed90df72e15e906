package strategy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hazard"
	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/verify"
)

// Stage names of a blue/green release, in the article's order.
const (
	StageCheckEnv     = "Check Env"
	StageDeploy       = "Deploy"
	StageVerifyStaged = "Verify Staged"
	StageConfirm      = "Confirm"
	StageSwitch       = "Switch"
	StageVerifyProd   = "Verify Prod"
	StageSwitchBack   = "Switch Back"
	StagePost         = "Post"
)

// Idle policies: what happens to the previously active color.
const (
	IdleKeep      = "keep"
	IdleScaleDown = "scale-down"
	IdleUpdate    = "update"
)

// BlueGreenOptions configure a blue/green release in template mode: the
// files carry the role variable, the production Service's selector key
// names the active color.
type BlueGreenOptions struct {
	Service     string    // the production Service
	SelectorKey string    // default "role"
	Colors      [2]string // default blue, green; the first is used on a first deploy
	// Render returns the objects of the files for one color (the role
	// variable set to it).
	Render func(ctx context.Context, color string) ([]manifest.Object, error)
	// Checks returns the checks of a stage (StageVerifyStaged or
	// StageVerifyProd) for a color.
	Checks func(stage, color string) []verify.Spec
	// Confirm, if set, waits for a person's approval; an error aborts with
	// production untouched.
	Confirm func(ctx context.Context, from, to string) error
	// Adopt lets a production Service whose selector lacks the selector key
	// (a plain app moving to managed mode) be taken over: the first color
	// is deployed and the switch adds the key. Without Adopt that is an
	// error.
	Adopt bool
	// DryRun stops after Check Env and the server-side dry run of the
	// target color's objects (and of the production Service's switch).
	DryRun bool
	// UntilConfirm stops the release after Verify Staged, before Confirm:
	// the target color deployed and verified, production untouched.
	// OnStaged learns what a later Promote checks.
	UntilConfirm bool
	OnStaged     func(Staged)
	// BeforeWrite, if set, runs after the dry run of Deploy passed and
	// before the first write; an error refuses the release.
	BeforeWrite func(ctx context.Context) error
	// OnEnv, if set, learns what Check Env found: the active color ("" on
	// a first deploy) and the target.
	OnEnv func(active, target string)
	// Resume is the color an interrupted run of the same release had
	// already switched production to (read from its record), or "". If
	// production still selects it, the run continues that release:
	// it redeploys and verifies the same color, and asks no approval again
	// (the switch proves it was given), instead of releasing to the other
	// color.
	Resume         string
	IdlePolicy     string        // keep (default), scale-down, update
	ScaleDownDelay time.Duration // default 30s
	// SwitchBackTimeout bounds switching back after Verify Prod fails, even
	// when the run's ctx has ended; default 2m.
	SwitchBackTimeout time.Duration
	// EndpointGuard watches the production and test Services from Deploy
	// to the end of the run: see package drift.
	EndpointGuard drift.Settings
	// StrictHazards refuses a release the zero-downtime pre-flight finds
	// hazards in, instead of warning (package hazard).
	StrictHazards bool
	Apply         apply.Options
	// Access, if set, checks the run's permissions; sharing the caller's
	// Checker reads a namespace's rules once per run.
	Access *access.Checker
	Sink   eventSink
}

// BlueGreen runs the article's pipeline: Check Env, Deploy, Verify Staged,
// Confirm, Switch, Verify Prod, Post, switching back at once if Verify Prod
// fails.
type BlueGreen struct {
	runner
	opts BlueGreenOptions
	// counterparts maps each target-color Deployment to the active color's
	// Deployment of the same place in the files: an autoscaled color
	// starts at the count the active one runs (Deploy fills it).
	counterparts map[string]string
}

// NewBlueGreen returns a blue/green strategy.
func NewBlueGreen(c *kube.Clients, opts BlueGreenOptions) *BlueGreen {
	if opts.SelectorKey == "" {
		opts.SelectorKey = "role"
	}
	if opts.Colors[0] == "" {
		opts.Colors = [2]string{"blue", "green"}
	}
	if opts.IdlePolicy == "" {
		opts.IdlePolicy = IdleKeep
	}
	if opts.ScaleDownDelay <= 0 {
		opts.ScaleDownDelay = 30 * time.Second
	}
	if opts.SwitchBackTimeout <= 0 {
		opts.SwitchBackTimeout = 2 * time.Minute
	}
	if opts.Checks == nil {
		opts.Checks = func(string, string) []verify.Spec { return nil }
	}
	opts.Apply.Stage = StageDeploy
	counterparts := map[string]string{}
	opts.Apply.ReplicasFrom = func(name string) string { return counterparts[name] }
	r := newRunner(c, opts.Apply, opts.Sink)
	if opts.Access != nil {
		r.access = opts.Access
	}
	return &BlueGreen{runner: r, opts: opts, counterparts: counterparts}
}

// env is what Check Env found.
type env struct {
	prod    *corev1.Service // nil on a first deploy
	active  string          // "" on a first deploy
	target  string
	resumed bool // production already selects target: an interrupted run's switch
}

// Run releases to the idle color and switches production to it.
func (b *BlueGreen) Run(ctx context.Context) error {
	var e env
	if err := b.stage(StageCheckEnv, func() (err error) { e, err = b.checkEnv(ctx); return err }); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if b.opts.OnEnv != nil {
		b.opts.OnEnv(e.active, e.target)
	}
	d, err := b.deploy(ctx, e)
	defer d.stop()
	if err != nil || b.opts.DryRun {
		return err
	}
	if err := b.stage(StageVerifyStaged, func() error { return b.verifyStaged(ctx, e) }); err != nil {
		return &Failure{Cause: err, Untouched: true}
	}
	if b.opts.UntilConfirm {
		return b.stop(ctx, e, d)
	}
	if err := b.confirm(ctx, e); err != nil {
		return &Failure{Cause: err, Untouched: true}
	}
	return b.switchAndVerify(ctx, e, d)
}

// stop ends a run before Confirm, telling OnStaged what Promote checks.
func (b *BlueGreen) stop(ctx context.Context, e env, d deployed) error {
	s, err := b.staged(ctx, e, d)
	if err != nil {
		return &Failure{Cause: err, Untouched: true}
	}
	if b.opts.OnStaged != nil {
		b.opts.OnStaged(s)
	}
	return nil
}

// switchAndVerify runs Switch, Verify Prod and Post, switching back if the
// switch or Verify Prod fails.
func (b *BlueGreen) switchAndVerify(ctx context.Context, e env, d deployed) error {
	if err := b.stage(StageSwitch, func() error { return b.switchTo(ctx, e, e.target, d.prod, d.view) }); err != nil {
		if errors.Is(err, errNotSwitched) {
			return &Failure{Cause: err, Untouched: true}
		}
		return b.switchBack(ctx, e, d, err)
	}
	if err := b.stage(StageVerifyProd, func() error {
		return b.verify(ctx, StageVerifyProd, b.opts.Checks(StageVerifyProd, e.target))
	}); err != nil {
		return b.switchBack(ctx, e, d, err)
	}
	return b.post(ctx, e)
}

// Precheck runs Check Env before the caller takes its lock, so that a run
// Check Env refuses writes nothing, not even a Lease. When Check Env would
// refuse, Precheck reports the stage as Run does and returns the refusal;
// when it passes, Precheck reports nothing (Run checks again, under the
// lock).
func (b *BlueGreen) Precheck(ctx context.Context) error {
	quiet := *b
	quiet.sink = event.Discard
	if _, err := quiet.checkEnv(ctx); err == nil {
		return nil
	}
	if err := b.stage(StageCheckEnv, func() error { _, err := b.checkEnv(ctx); return err }); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return nil
}

// checkEnv reads the active color from the production Service's selector.
func (b *BlueGreen) checkEnv(ctx context.Context) (env, error) {
	svc, err := b.c.Typed.CoreV1().Services(b.c.Namespace).Get(ctx, b.opts.Service, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return env{target: b.opts.Colors[0]}, nil
	case err != nil:
		return env{}, fmt.Errorf("read production service %s: %w", b.opts.Service, err)
	}
	active, ok := svc.Spec.Selector[b.opts.SelectorKey]
	if !ok && b.opts.Adopt && len(svc.Spec.Selector) > 0 {
		event.Stamp(b.sink, event.Event{Type: event.Warning, Stage: StageCheckEnv, Message: fmt.Sprintf(
			"production service %s selects %v without %q: adopting it; the switch moves traffic to %s",
			svc.Name, svc.Spec.Selector, b.opts.SelectorKey, b.opts.Colors[0])})
		return env{prod: svc, target: b.opts.Colors[0]}, nil
	}
	if !ok && len(svc.Spec.Selector) == 0 {
		return env{}, fmt.Errorf("production service %s/%s has no selector: cutover switches colors through the selector's %q key",
			svc.Namespace, svc.Name, b.opts.SelectorKey)
	}
	if !ok {
		return env{}, fmt.Errorf("production service %s/%s has no selector key %q (selector %s); %w",
			svc.Namespace, svc.Name, b.opts.SelectorKey, labels.Set(svc.Spec.Selector), hint.New(hint.SelectorKey, "set the selector key"))
	}
	other, known := b.other(active)
	switch {
	case known && active == b.opts.Resume:
		event.Stamp(b.sink, event.Event{Type: event.Warning, Stage: StageCheckEnv, Message: fmt.Sprintf(
			"resuming an interrupted run of this release: production already selects %s; verifying it again", active)})
		return env{prod: svc, active: other, target: active, resumed: true}, nil
	case known:
		return env{prod: svc, active: active, target: other}, nil
	}
	return env{}, fmt.Errorf("production service %s/%s selects %s=%q, which is neither of the colors %q and %q; %w",
		svc.Namespace, svc.Name, b.opts.SelectorKey, active, b.opts.Colors[0], b.opts.Colors[1], hint.New(hint.Colors, "set the colors"))
}

// other returns the color that is not c, and whether c is a color at all.
func (b *BlueGreen) other(c string) (string, bool) {
	switch c {
	case b.opts.Colors[0]:
		return b.opts.Colors[1], true
	case b.opts.Colors[1]:
		return b.opts.Colors[0], true
	}
	return "", false
}

// isProd recognises the production Service among the files' objects.
func (b *BlueGreen) isProd(o manifest.Object) bool {
	return o.GetKind() == "Service" && o.GroupVersionKind().Group == "" && o.GetName() == b.opts.Service
}

// deploy applies the target color's objects, never the production Service,
// and waits until they are ready. Before its first write it starts the
// watches that Verify Staged and Switch confirm their changes with.
func (b *BlueGreen) deploy(ctx context.Context, e env) (deployed, error) {
	objs, err := b.opts.Render(ctx, e.target)
	if err != nil {
		return deployed{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	var prod *manifest.Object
	var rest []manifest.Object
	for i, o := range objs {
		if b.isProd(o) {
			prod = &objs[i]
			continue
		}
		rest = append(rest, o)
	}
	if e.prod == nil && prod == nil {
		return deployed{}, fmt.Errorf("%w: no production service %q in the cluster or in the files", ErrRefused, b.opts.Service)
	}
	d := deployed{prod: prod}
	if err := b.stage(StageDeploy, func() (err error) {
		b.pairColors(ctx, e, rest)
		items, err := b.ap.Plan(ctx, rest)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		b.reportPlan(StageDeploy, items)
		if err := b.checkAccess(ctx, append(waitNeeds(items), append(b.switchNeeds(e), b.guardNeeds(items)...)...)); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if err := b.checkHazards(StageDeploy, items, b.hazardServices(e, prod, items), hazard.Options{}, b.opts.StrictHazards); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if err := b.checkScaleDown(e); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if b.opts.DryRun {
			return b.dryRunSwitch(ctx, e, prod)
		}
		if hook := b.opts.BeforeWrite; hook != nil {
			if err := hook(ctx); err != nil {
				return fmt.Errorf("%w: %w", ErrRefused, err)
			}
		}
		d.items = items
		if d.view, err = b.startView(ctx, items); err != nil {
			return err
		}
		d.guard = b.startGuard(context.WithoutCancel(ctx), b.opts.EndpointGuard, d.view, b.guardTargets(items))
		if err := b.ap.Apply(ctx, items); err != nil {
			return err
		}
		return b.waitColor(ctx, d)
	}); err != nil {
		if errors.Is(err, ErrRefused) {
			return d, err
		}
		return d, &Failure{Cause: err, Untouched: true}
	}
	return d, nil
}

// switchNeeds are the permissions of Switch and Switch Back.
func (b *BlueGreen) switchNeeds(e env) []access.Need {
	ns := b.c.Namespace
	verbs := []string{"get", "patch"}
	if e.prod == nil {
		verbs = append(verbs, "create")
	}
	out := access.Verbs(ns, access.Services, "switch the production service "+b.opts.Service, verbs...)
	out = append(out, access.Verbs(ns, access.EndpointSlices, "confirm the switch through the endpoints", "list", "watch")...)
	return append(out, access.Verbs(ns, access.Pods, "check a color before switching to it", "list", "watch")...)
}

// dryRunSwitch reports what Switch would do, and dry-runs the production
// Service on a first deploy.
func (b *BlueGreen) dryRunSwitch(ctx context.Context, e env, prod *manifest.Object) error {
	if e.prod == nil {
		items, err := b.ap.Plan(ctx, []manifest.Object{*prod})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		b.reportPlan(StageSwitch, items)
		return nil
	}
	event.Stamp(b.sink, event.Event{Type: event.ObjectPlanned, Stage: StageSwitch,
		Object: fmt.Sprintf("Service/%s/%s", b.c.Namespace, b.opts.Service),
		Action: fmt.Sprintf("would switch %s from %s to %s", b.opts.SelectorKey, e.active, e.target)})
	return nil
}

func (b *BlueGreen) confirm(ctx context.Context, e env) error {
	switch {
	case b.opts.Confirm == nil:
		b.skip(StageConfirm, "no approval asked")
		return nil
	case e.resumed:
		b.skip(StageConfirm, "approved before the interrupted run switched production")
		return nil
	}
	return b.stage(StageConfirm, func() error { return b.opts.Confirm(ctx, e.active, e.target) })
}

// switchTo points production at color with one selector patch (or, on a
// first deploy, creates it from the files), then waits until its
// EndpointSlices hold exactly the color's ready pods, as view (nil: a View
// of its own) shows them.
func (b *BlueGreen) switchTo(ctx context.Context, e env, color string, prodObj *manifest.Object, view *readiness.View) error {
	if e.prod == nil {
		items, err := b.ap.Plan(ctx, []manifest.Object{*prodObj})
		if err != nil {
			return err
		}
		if err := b.ap.Apply(ctx, items); err != nil {
			return err
		}
	} else if err := b.patchSelector(ctx, color); err != nil {
		return err
	}
	o := b.prodEndpoints(e, color, prodObj)
	o.View = view
	return readiness.WaitEndpoints(ctx, b.c, o)
}

// prodEndpoints says what production's endpoints must become once it
// selects color: the color's ready pods.
func (b *BlueGreen) prodEndpoints(e env, color string, prodObj *manifest.Object) readiness.EndpointsOptions {
	selector := labels.Set{}
	if e.prod != nil {
		for k, v := range e.prod.Spec.Selector {
			selector[k] = v
		}
	} else if prodObj != nil {
		selector, _, _ = unstructured.NestedStringMap(prodObj.Object, "spec", "selector")
	}
	selector[b.opts.SelectorKey] = color
	return readiness.EndpointsOptions{Namespace: b.c.Namespace, Service: b.opts.Service, Selector: labels.SelectorFromSet(selector)}
}

// unadopt gives an adopted production Service its original selector back.
func (b *BlueGreen) unadopt(ctx context.Context, e env, f *Failure) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.SwitchBackTimeout)
	defer cancel()
	f.RollbackErr = b.stage(StageSwitchBack, func() error {
		patch := fmt.Sprintf(`{"spec":{"selector":{%q:null}}}`, b.opts.SelectorKey)
		_, err := b.c.Typed.CoreV1().Services(b.c.Namespace).Patch(ctx, b.opts.Service, mergePatch, []byte(patch),
			metav1.PatchOptions{FieldManager: b.ap.FieldManager()})
		if err != nil {
			return fmt.Errorf("restore selector of service %s: %w", b.opts.Service, err)
		}
		return readiness.WaitEndpoints(ctx, b.c, readiness.EndpointsOptions{
			Namespace: b.c.Namespace, Service: b.opts.Service, Selector: labels.SelectorFromSet(e.prod.Spec.Selector)})
	})
	f.RolledBack = f.RollbackErr == nil
	if f.RolledBack {
		f.Restored = []string{fmt.Sprintf("Service/%s/%s to its selector %v", b.c.Namespace, b.opts.Service, e.prod.Spec.Selector)}
	}
	return f
}

// colorReady refuses to switch production to a color with no pods, or
// with pods that are not ready (a scaled-down or broken backup): production
// must never select such a color.
func (b *BlueGreen) colorReady(ctx context.Context, e env, color string) error {
	selector := labels.Set{}
	for k, v := range e.prod.Spec.Selector {
		selector[k] = v
	}
	selector[b.opts.SelectorKey] = color
	pods, err := b.c.Typed.CoreV1().Pods(b.c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return fmt.Errorf("check %s before switching back: %w", color, err)
	}
	ready := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if !readiness.PodReady(p) {
			return fmt.Errorf("%s is not fit to take production back: pod %s is not ready", color, p.Name)
		}
		ready++
	}
	if ready == 0 {
		return fmt.Errorf("%s is not fit to take production back: no pod runs (scaled down?)", color)
	}
	return nil
}

func (b *BlueGreen) patchSelector(ctx context.Context, color string) error {
	patch := fmt.Sprintf(`{"spec":{"selector":{%q:%q}}}`, b.opts.SelectorKey, color)
	_, err := b.c.Typed.CoreV1().Services(b.c.Namespace).Patch(ctx, b.opts.Service, mergePatch, []byte(patch),
		metav1.PatchOptions{FieldManager: b.ap.FieldManager()})
	if err != nil {
		return fmt.Errorf("switch service %s to %s: %w: %w", b.opts.Service, color, errNotSwitched, err)
	}
	return nil
}

// errNotSwitched marks a switch whose patch was refused: production did
// not change, so there is nothing to switch back.
var errNotSwitched = errors.New("the selector was not changed")

// switchBack returns production to the previous color after a failed switch
// or Verify Prod, and confirms it through the endpoints.
func (b *BlueGreen) switchBack(ctx context.Context, e env, d deployed, cause error) error {
	f := &Failure{Cause: cause}
	if e.prod != nil && e.active == "" {
		return b.unadopt(ctx, e, f)
	}
	if e.prod == nil {
		f.RollbackErr = errors.New("first deploy: no previous color to switch back to")
		return f
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.SwitchBackTimeout)
	defer cancel()
	f.RollbackErr = b.stage(StageSwitchBack, func() error {
		if err := b.colorReady(ctx, e, e.active); err != nil {
			return err
		}
		return b.switchTo(ctx, e, e.active, nil, d.view)
	})
	f.RolledBack = f.RollbackErr == nil
	if f.RolledBack {
		f.Restored = []string{fmt.Sprintf("Service/%s/%s to %s", b.c.Namespace, b.opts.Service, e.active)}
	}
	return f
}

// pairColors fills counterparts: the n-th Deployment of the target color's
// objects with the n-th of the active color's. Where the active color
// cannot be rendered (a redeploy from a record keeps one color's objects),
// each Deployment keeps its own count.
func (b *BlueGreen) pairColors(ctx context.Context, e env, target []manifest.Object) {
	if e.active == "" || e.active == e.target {
		return
	}
	active, err := b.opts.Render(ctx, e.active)
	if err != nil {
		return
	}
	names := func(objs []manifest.Object) []string {
		var out []string
		for _, o := range objs {
			if o.GetKind() == "Deployment" && o.GroupVersionKind().Group == "apps" {
				out = append(out, o.GetName())
			}
		}
		return out
	}
	from, to := names(active), names(target)
	for i := range min(len(from), len(to)) {
		b.counterparts[to[i]] = from[i]
	}
}

// hazardServices are the Services that will route to the target color: its
// test Services among the release's, and production once switched.
func (b *BlueGreen) hazardServices(e env, prod *manifest.Object, items []*apply.Item) []hazard.Service {
	out := releaseServices(items)
	var sel map[string]string
	switch {
	case prod != nil:
		sel, _, _ = unstructured.NestedStringMap(prod.Object, "spec", "selector")
	case e.prod != nil:
		sel = e.prod.Spec.Selector
	}
	if len(sel) == 0 {
		return out
	}
	switched := maps.Clone(sel)
	switched[b.opts.SelectorKey] = e.target
	return append(out, hazard.Service{Namespace: b.c.Namespace, Name: b.opts.Service, Selector: switched})
}

// checkScaleDown warns (or, strict, refuses) when the scale-down policy
// stops the old color sooner than the routes to it are gone.
func (b *BlueGreen) checkScaleDown(e env) error {
	if b.opts.IdlePolicy != IdleScaleDown || e.active == "" || e.active == e.target {
		return nil // nothing to scale down this time
	}
	msg := hazard.CheckScaleDown(b.opts.ScaleDownDelay)
	switch {
	case msg == "":
		return nil
	case b.opts.StrictHazards:
		return fmt.Errorf("%w: %s: %w", strictRefusal, hazard.ScaleDownTooSoon, hint.New(hint.ScaleDownDelay, msg))
	}
	event.Stamp(b.sink, event.Event{Type: event.Warning, Stage: StageDeploy, Object: "color " + e.active, Status: HazardStatus,
		Action: hazard.ScaleDownTooSoon, Message: msg, Settings: []string{string(hint.ScaleDownDelay)}})
	return nil
}
