package strategy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hazard"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/route"
	"github.com/cutover/cutover/internal/verify"
)

// Stage names of a canary release besides the rolling update's Validate,
// Apply and Verify, and one per step (see stepStage).
const (
	StageResume    = "Resume"
	StagePromote   = "Promote"
	StageScaleDown = "Scale Down"
	StageAbort     = "Abort"
)

// CanaryOptions configure a canary release in replica mode: the files'
// Deployment stays the stable one, a NAME-canary Deployment of the new
// pod template runs beside it behind the same Services, and its replica
// count sets its share of traffic.
type CanaryOptions struct {
	// RollingOptions hold what a canary shares with a rolling update:
	// Checks run at Verify, after promotion; NoRollback leaves a failed
	// canary as it is; RollbackTimeout bounds an abort.
	RollingOptions
	Steps []CanaryStep
	// ScaleDownDelay is how long after promotion the canary keeps its pods
	// (default 30s), so that every node learns the change before they go.
	ScaleDownDelay time.Duration
	// AbortScaleDownDelay, in gateway mode, is how long after an abort's
	// route write is confirmed the canary keeps its pods (default
	// DefaultAbortScaleDownDelay; negative: none): a gateway runs a route
	// some time after it reports accepting it, and until then still sends
	// requests to the canary. In replica mode the scale-down is the abort.
	AbortScaleDownDelay time.Duration
	// Resume, if set, returns the number of steps an interrupted run of
	// the same release had done (from its record): this run starts after
	// them, at the weight they set. It is asked after BeforeWrite.
	Resume func() int
	// AwaitPromote waits at a pause without a duration until someone
	// promotes (nil) or aborts (an error).
	AwaitPromote func(ctx context.Context) error
	// OnStep learns each step done: how many, and the traffic split.
	OnStep func(done int, w event.Weight)
	// Route names an HTTPRoute of the files: gateway mode, where the
	// route's weights split the traffic (see canary_gateway.go). Empty:
	// replica mode.
	Route string
	// Services, with Route, names the stable and the canary Service of the
	// files that the route splits between (explicit mode; Service unset):
	// cutover adds TrackLabel to their selectors. Nil: managed mode, where
	// cutover derives them from the Service the route sends to.
	Services *route.Backends
	// Header, with Route, sends requests that carry it to the canary from
	// Apply until promotion or abort, whatever the weights: the canary then
	// runs at least one pod.
	Header *route.Header
	// Background are analyses run from the first step that gives the
	// canary traffic until promotion (see background); each Check's Probe
	// measures until its ctx ends or a metric fails or cannot judge.
	Background []verify.Spec
	// DynamicStableScale, in replica mode, scales stable down by as many
	// pods as the canary runs (see dynamicSplit), so the two keep about
	// stable's count instead of adding the canary's to it. Each change
	// grows one side until its pods are ready before it shrinks the other,
	// and an abort brings stable back to full before the canary goes: it
	// takes as long as stable's pods take to start.
	DynamicStableScale bool
	// ProxySyncDelay, in replica mode, is how long each weight change
	// waits once the EndpointSlices confirm it, for every node's
	// kube-proxy to apply them (default DefaultProxySyncDelay; negative:
	// none): the next step, an analysis above all, then measures traffic
	// at the new weight, not before the proxies learned it.
	ProxySyncDelay time.Duration
}

// DefaultProxySyncDelay is kube-proxy's default minimum sync period: the
// time it may take to apply a change of EndpointSlices.
const DefaultProxySyncDelay = time.Second

// Canary runs a canary release: Validate, Apply (everything but the
// stable Deployment, and the canary at the weight it starts with), the
// steps, Promote (stable takes the new pod template and rolls out fully),
// Verify, and Scale Down (the canary, after a delay). A failure before
// Promote aborts: the canary is scaled to zero in one write, and the
// Services are watched until no canary pod is a ready endpoint.
type Canary struct {
	*Rolling
	opts   CanaryOptions
	resume int // steps done by an interrupted run (opts.Resume)
}

// NewCanary returns a canary strategy.
func NewCanary(c *kube.Clients, opts CanaryOptions) *Canary {
	if opts.ScaleDownDelay < 0 {
		opts.ScaleDownDelay = 0
	} else if opts.ScaleDownDelay == 0 {
		opts.ScaleDownDelay = 30 * time.Second
	}
	if opts.AbortScaleDownDelay < 0 {
		opts.AbortScaleDownDelay = 0
	} else if opts.AbortScaleDownDelay == 0 {
		opts.AbortScaleDownDelay = DefaultAbortScaleDownDelay
	}
	return &Canary{Rolling: NewRolling(c, opts.RollingOptions), opts: opts}
}

// canaryPlan is what Validate found.
type canaryPlan struct {
	others []*apply.Item // every object of the files but the stable Deployment
	canary *apply.Item   // the canary Deployment; Object at its current count
	stable *apply.Item   // the stable Deployment, as the files have it
	// services route to stable's pods, and so to the canary's.
	services []routed
	// stableReplicas is stable's full count: what it runs, or what a
	// dynamic scale of a killed run left in StableReplicasAnnotation; 0 on
	// a first release. stableNow is what it runs now.
	stableReplicas, stableNow int
	gw                        *gatewayPlan // nil in replica mode
}

// routing are the items waitRollout watches the Services of.
func (p *canaryPlan) routing() []*apply.Item {
	out := make([]*apply.Item, 0, len(p.services)+2)
	for _, s := range p.services {
		out = append(out, s.item)
	}
	return append(out, p.stable, p.canary)
}

// Run releases objs. Errors: bad input wraps ErrRefused (nothing was
// written); a failed or aborted release is a *Failure.
func (c *Canary) Run(ctx context.Context, objs []manifest.Object) error {
	var p *canaryPlan
	if err := c.stage(StageValidate, func() (err error) { p, err = c.validate(ctx, objs); return err }); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	c.reportPlan(StageValidate, append(p.others, p.stable))
	if c.opts.DryRun {
		return nil
	}
	if err := c.beforeWrite(ctx, p.others); err != nil {
		return err
	}
	if why := p.noCanary(); why != "" {
		event.Stamp(c.sink, event.Event{Type: event.Warning, Stage: StageApply, Object: p.stable.Ref(), Message: why + ": no canary, it rolls out in full"})
		if err := c.release(ctx, append(p.others, p.stable)); err != nil {
			return err
		}
		if err := c.routeToStable(ctx, p); err != nil {
			return err
		}
		return c.finishPromotion(ctx, p)
	}
	if err := c.stage(StageApply, func() error { return c.applyCanary(ctx, p) }); err != nil {
		return c.abort(ctx, p, err)
	}
	if err := c.steps(ctx, p); err != nil {
		return c.abort(ctx, p, err)
	}
	if err := c.promote(ctx, p); err != nil {
		return c.abort(ctx, p, err)
	}
	return c.stage(StageScaleDown, func() error { return c.scaleDown(ctx, p) })
}

// applyCanary writes everything but stable, the canary at the weight the
// run starts at; in gateway mode see applyThroughGateway.
func (c *Canary) applyCanary(ctx context.Context, p *canaryPlan) error {
	if err := c.startAt(ctx, p); err != nil {
		return err
	}
	if p.gw != nil {
		return c.applyThroughGateway(ctx, p)
	}
	return c.ap.Apply(ctx, append(p.others, p.canary))
}

// applyThroughGateway adopts stable's pods and writes the route before
// the canary gets pods it did not have: until the route is split, it
// sends to the app's Service, which selects the canary's pods too.
func (c *Canary) applyThroughGateway(ctx context.Context, p *canaryPlan) error {
	planned := liveCount(p.canary)
	if first := min(planned, liveReplicas(p.canary.Before)); first != planned {
		it, err := c.planOne(ctx, withReplicas(p.canary.Object, first))
		if err != nil {
			return err
		}
		p.canary = it
	}
	if err := c.adoptBeforeApply(ctx, p); err != nil {
		return err
	}
	if err := c.ap.Apply(ctx, append(p.others, p.canary)); err != nil {
		return err
	}
	if err := c.adoptStable(ctx, p, p.routing()); err != nil {
		return err
	}
	if c.opts.Services != nil { // the user's Services, now by track, route to stable's pods
		if err := c.waitRollout(ctx, StageApply, []*apply.Item{p.stable}, p.routing()); err != nil {
			return err
		}
	}
	if liveCount(p.canary) > 0 {
		if err := c.waitRollout(ctx, StageApply, []*apply.Item{p.canary}, p.routing()); err != nil {
			return err
		}
	}
	if err := c.writeRoute(ctx, StageApply, p.gw, p.gw.weight, true); err != nil {
		return err
	}
	if planned == liveCount(p.canary) {
		return nil
	}
	if err := c.scale(ctx, StageApply, p, planned); err != nil {
		return err
	}
	return c.waitRollout(ctx, StageApply, []*apply.Item{p.canary}, p.routing())
}

// adoptBeforeApply, in explicit mode, labels stable's pods before the
// user's stable Service, which the route already sends to, selects by
// the label: applied first, it would select no pod until they roll.
func (c *Canary) adoptBeforeApply(ctx context.Context, p *canaryPlan) error {
	if c.opts.Services == nil {
		return nil
	}
	return c.adoptStable(ctx, p, []*apply.Item{p.stable})
}

// routeToStable, in gateway mode, sends every request to stable once its
// rollout is done.
func (c *Canary) routeToStable(ctx context.Context, p *canaryPlan) error {
	if p.gw == nil {
		return nil
	}
	return c.stage(StagePromote, func() error { return c.gatewayRouteStable(ctx, StagePromote, p) })
}

// startAt learns where an interrupted run stopped, and plans the canary
// at the weight it had set: its pods are not scaled away to come back a
// moment later.
func (c *Canary) startAt(ctx context.Context, p *canaryPlan) error {
	if c.opts.Resume == nil {
		return nil
	}
	c.resume = min(max(c.opts.Resume(), 0), len(c.opts.Steps))
	w, _ := weightBefore(c.opts.Steps, c.resume)
	if p.gw != nil {
		p.gw.weight = w
	}
	n, _, _ := c.split(p, w)
	if sameTemplate(p.canary.Before, p.canary.Planned) {
		// A run of this release scaled it, maybe past its last recorded
		// step: the steps from here set its count, not Apply.
		n = max(n, liveReplicas(p.canary.Before))
	}
	if n == 0 {
		return nil
	}
	it, err := c.planOne(ctx, withReplicas(p.canary.Object, n))
	if err != nil {
		return err
	}
	p.canary = it
	return nil
}

// finishPromotion scales away a canary that still has pods when stable
// already runs the release: a run killed in Promote or Scale Down left
// it, and its rerun finds nothing to compare.
func (c *Canary) finishPromotion(ctx context.Context, p *canaryPlan) error {
	if p.canary.Before == nil || liveReplicas(p.canary.Before) == 0 {
		return nil
	}
	event.Stamp(c.sink, event.Event{Type: event.Warning, Stage: StageScaleDown, Object: p.canary.Ref(),
		Message: "the canary still has pods from an earlier run of this release: they go now"})
	return c.stage(StageScaleDown, func() error { return c.scaleDown(ctx, p) })
}

// noCanary says why the release has nothing to compare, or "".
func (p *canaryPlan) noCanary() string {
	before := p.stable.Before
	if before == nil {
		return "first release of " + p.stable.Ref() + ": nothing stable to compare with"
	}
	if sameTemplate(withoutTrack(before), withoutTrack(p.stable.Planned)) {
		return p.stable.Ref() + " keeps its pod template"
	}
	return ""
}

// sameTemplate reports two Deployments with the same pod template; false
// when either is missing.
func sameTemplate(a, b *unstructured.Unstructured) bool {
	if a == nil || b == nil {
		return false
	}
	x, _, _ := unstructured.NestedMap(a.Object, "spec", "template")
	y, _, _ := unstructured.NestedMap(b.Object, "spec", "template")
	return reflect.DeepEqual(x, y)
}

// validate plans every object with a server-side dry run, derives the
// canary and checks the run's permissions and the zero-downtime hazards.
func (c *Canary) validate(ctx context.Context, objs []manifest.Object) (*canaryPlan, error) {
	stable, others, err := splitStable(objs)
	if err != nil {
		return nil, err
	}
	canaryObj, err := canaryDeployment(stable)
	if err != nil {
		return nil, err
	}
	p := &canaryPlan{}
	if c.opts.DynamicStableScale && c.opts.Route != "" {
		return nil, errors.New("canary: a dynamic stable scale is for a split by replicas: through a gateway the route's weights split the traffic, and stable keeps its pods so that an abort can send everything back to it at once")
	}
	if c.opts.Header != nil && c.opts.Route == "" {
		return nil, errors.New("canary: a header route for testers needs a gateway: --route NAME")
	}
	if c.opts.Header != nil {
		canaryObj = withReplicas(canaryObj, 1)
	}
	if c.opts.Route != "" {
		if stable, others, p.gw, err = c.planGateway(stable, others); err != nil {
			return nil, err
		}
		if err := c.routeAt(ctx, p.gw, 0); err != nil {
			return nil, err
		}
	}
	if p.stable, err = c.planOne(ctx, stable); err != nil {
		return nil, err
	}
	p.stableReplicas, p.stableNow = fullReplicas(p.stable.Before), liveReplicas(p.stable.Before)
	items, err := c.ap.Plan(ctx, append(others, canaryObj))
	if err != nil {
		return nil, err
	}
	p.others, p.canary = items[:0:0], nil
	for _, it := range items {
		if it.Kind() == "Deployment" && it.Name() == canaryObj.GetName() {
			p.canary = it
			continue
		}
		p.others = append(p.others, it)
	}
	if p.services = routedServices(append(servicesAmong(p.others), p.stable)); p.gw != nil {
		p.services = append(p.services, p.gw.canaryService(p.others)...)
	}
	if len(p.services) == 0 {
		return nil, fmt.Errorf("canary: %s: no Service in the files selects the pods of Deployment %s: a canary without a gateway splits a Service's traffic between the stable and the canary pods",
			stable.Source, stable.GetName())
	}
	return p, c.checkCanary(ctx, p)
}

// checkCanary checks the run's permissions and the hazards of the stable
// Deployment (the canary copies its pod template).
func (c *Canary) checkCanary(ctx context.Context, p *canaryPlan) error {
	all := append(append([]*apply.Item{}, p.others...), p.stable, p.canary)
	if p.gw != nil {
		all = append(all, p.gw.route)
	}
	needs := append(waitNeeds(all), append(endpointNeeds(all), hazardNeeds(all)...)...)
	if !c.opts.EndpointGuard.Off {
		needs = append(needs, guardNeeds(c.c.Namespace, targetNames(rollingTargets(p.routing())), true)...)
	}
	if err := c.checkAccess(ctx, append(needs, c.opts.Needs...)); err != nil {
		return err
	}
	checked := append(append([]*apply.Item{}, p.others...), p.stable)
	live, err := c.liveServices(ctx, checked)
	if err != nil {
		return err
	}
	return c.checkHazards(StageValidate, checked, append(releaseServices(checked), live...), hazard.Options{Rolling: true}, c.opts.StrictHazards)
}

// planOne plans a single object.
func (c *Canary) planOne(ctx context.Context, o manifest.Object) (*apply.Item, error) {
	items, err := c.ap.Plan(ctx, []manifest.Object{o})
	if err != nil {
		return nil, err
	}
	return items[0], nil
}

// splitStable finds the one Deployment of a canary release.
func splitStable(objs []manifest.Object) (stable manifest.Object, others []manifest.Object, err error) {
	var found []manifest.Object
	for _, o := range objs {
		if isDeployment(o) {
			found = append(found, o)
			continue
		}
		others = append(others, o)
	}
	if len(found) != 1 {
		return stable, nil, fmt.Errorf("canary: the files hold %d Deployments; a canary release takes exactly one (the stable one, from which cutover derives NAME%s)", len(found), CanarySuffix)
	}
	return found[0], others, nil
}

func liveReplicas(live *unstructured.Unstructured) int {
	if live == nil {
		return 0
	}
	n, found, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
	if !found {
		return 1
	}
	return int(n)
}

// steps runs the steps from opts.Resume, first restoring the weight the
// steps before it set, with the background analysis from the first weight
// that gives the canary traffic; then its verdict.
func (c *Canary) steps(ctx context.Context, p *canaryPlan) error {
	bg := newBackground(c.opts.Background, c.sink)
	defer bg.stop()
	n := len(c.opts.Steps)
	if w, ok := weightBefore(c.opts.Steps, c.resume); ok && c.resume > 0 {
		err := c.stage(StageResume, func() error { return c.setWeight(ctx, StageResume, p, w) })
		if err != nil {
			return err
		}
		if w > 0 {
			bg.start(ctx)
		}
	}
	for i := c.resume; i < n; i++ {
		s, name := c.opts.Steps[i], stepStage(i, n, c.opts.Steps[i])
		if err := c.stage(name, func() error { return c.judgedStep(ctx, name, p, s, bg) }); err != nil {
			return withCause(ctx, err)
		}
		if s.Kind == StepWeight && s.Weight > 0 {
			bg.start(ctx)
		}
		c.stepDone(i+1, p)
	}
	return c.judgeBackground(ctx, bg)
}

// stepDone tells OnStep that step done (1-based) is.
func (c *Canary) stepDone(done int, p *canaryPlan) {
	if c.opts.OnStep == nil {
		return
	}
	w, _ := weightBefore(c.opts.Steps, done)
	_, _, share := c.split(p, w)
	if p.gw != nil {
		share = w
	}
	c.opts.OnStep(done, event.Weight{Asked: w, Share: share})
}

// judgedStep runs step s under the background analysis. If it cannot
// judge, the step ends and a person decides: a promote lets the canary go
// on without it, past the step if it was a pause (the person judged what
// it waited for), else from the step again (its weight or analysis must
// hold).
func (c *Canary) judgedStep(ctx context.Context, stage string, p *canaryPlan, s CanaryStep, bg *background) error {
	for {
		err := bg.during(ctx, func(ctx context.Context) error { return c.step(ctx, stage, p, s) })
		if !errors.Is(err, errBackgroundInconclusive) {
			return err
		}
		if err := c.awaitPerson(ctx, stage, err); err != nil {
			return err
		}
		bg.decided = true
		if s.Kind == StepPause {
			return nil
		}
	}
}

// judgeBackground stops the background analysis once the steps are done:
// promotion goes on if it passed, aborts if it failed, and waits for a
// person if it could not judge.
func (c *Canary) judgeBackground(ctx context.Context, bg *background) error {
	switch {
	case len(c.opts.Background) == 0 || bg.decided:
		return nil
	case !bg.running():
		c.skip(StageAnalysis, "no step gave the canary traffic: the background analysis did not run")
		return nil
	}
	return c.stage(StageAnalysis, func() error {
		err := bg.finish()
		if errors.Is(err, errBackgroundInconclusive) {
			return c.awaitPerson(ctx, StageAnalysis, err)
		}
		return err
	})
}

// withCause adds why ctx ended to err: an abort someone asked for, a lost
// lock.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w (%w)", err, cause)
	}
	return err
}

func (c *Canary) step(ctx context.Context, stage string, p *canaryPlan, s CanaryStep) error {
	switch s.Kind {
	case StepWeight:
		return c.setWeight(ctx, stage, p, s.Weight)
	case StepPause:
		if s.Pause == 0 {
			if c.opts.AwaitPromote == nil {
				return errors.New("a pause until promoted needs a record to wait on")
			}
			return c.opts.AwaitPromote(ctx)
		}
		return sleep(ctx, s.Pause)
	case StepAnalysis:
		return c.analyse(ctx, stage, s.Checks)
	}
	return fmt.Errorf("unknown step %q", s.Kind)
}

// analyse runs an analysis step. One that could not judge (inconclusive:
// no data, a provider down) never promotes: it waits for a person, as a
// pause until promoted does, who promotes or aborts.
func (c *Canary) analyse(ctx context.Context, stage string, checks []verify.Spec) error {
	err := c.verify(ctx, stage, checks)
	if !errors.Is(err, verify.ErrInconclusive) {
		return err
	}
	return c.awaitPerson(ctx, stage, err)
}

// awaitPerson waits for a person to promote or abort after an analysis
// could not judge (err); without a record to wait on, err stands.
func (c *Canary) awaitPerson(ctx context.Context, stage string, err error) error {
	if c.opts.AwaitPromote == nil {
		return err
	}
	event.Stamp(c.sink, event.Event{Type: event.Warning, Stage: stage, Message: err.Error() + ": waiting for a person to promote or abort"})
	return c.opts.AwaitPromote(ctx)
}

// setWeight scales the canary to the count that approximates weight and
// waits until its pods are ready and the Services route to every ready
// pod.
func (c *Canary) setWeight(ctx context.Context, stage string, p *canaryPlan, weight int) error {
	if p.gw != nil {
		return c.gatewayWeight(ctx, stage, p, weight)
	}
	n, s, share := c.split(p, weight)
	if err := c.scaleBoth(ctx, stage, p, n, s); err != nil {
		return err
	}
	hold := c.proxySyncDelay()
	if err := sleep(ctx, hold); err != nil {
		return err
	}
	event.Stamp(c.sink, event.Event{Type: event.Traffic, Stage: stage, Object: p.canary.Ref(), Status: "set",
		Weight: &event.Weight{Asked: weight, Share: share, CanaryPods: n, StablePods: s},
		Message: fmt.Sprintf("weight %d%%: %d canary and %d stable pods ready, routed to in the EndpointSlices %s ago, so about %d%% of requests reach the canary (split by replicas, an approximation)",
			weight, n, s, hold, share)})
	return nil
}

// proxySyncDelay is how long a weight change waits for the nodes'
// kube-proxies once the EndpointSlices confirm it.
func (c *Canary) proxySyncDelay() time.Duration {
	switch d := c.opts.ProxySyncDelay; {
	case d < 0:
		return 0
	case d == 0:
		return DefaultProxySyncDelay
	default:
		return d
	}
}

// scale sets the canary's replicas in one write, as the field manager
// that applied it.
func (c *Canary) scale(ctx context.Context, stage string, p *canaryPlan, n int) error {
	obj := withReplicas(p.canary.Object, n)
	body, err := obj.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.canary.Ref(), err)
	}
	force := true
	_, err = c.c.Dynamic.Resource(p.canary.Mapping.Resource).Namespace(p.canary.Namespace).Patch(ctx, obj.GetName(),
		types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: c.ap.FieldManager(), Force: &force})
	if err != nil {
		return fmt.Errorf("scale %s to %d: %w", p.canary.Ref(), n, err)
	}
	p.canary.Object = obj
	event.Stamp(c.sink, event.Event{Type: event.ObjectApplied, Stage: stage, Object: p.canary.Ref(), Action: fmt.Sprintf("scaled to %d", n)})
	return nil
}

// promote gives stable the new pod template, waits until it is fully
// rolled out and routed to, and runs the Verify checks.
func (c *Canary) promote(ctx context.Context, p *canaryPlan) error {
	err := c.stage(StagePromote, func() error {
		if err := c.applyStable(ctx, p); err != nil {
			return err
		}
		if err := c.waitRollout(ctx, StagePromote, []*apply.Item{p.stable}, p.routing()); err != nil {
			return err
		}
		if p.gw == nil {
			return nil
		}
		return c.gatewayRouteStable(ctx, StagePromote, p)
	})
	if err != nil || len(c.opts.Checks) == 0 {
		return err
	}
	return c.stage(StageVerify, func() error { return c.verify(ctx, StageVerify, c.opts.Checks) })
}

// scaleDown waits ScaleDownDelay, then takes the canary's pods away.
func (c *Canary) scaleDown(ctx context.Context, p *canaryPlan) error {
	event.Stamp(c.sink, event.Event{Type: event.ObjectStatus, Stage: StageScaleDown, Object: p.canary.Ref(),
		Status: "waiting", Message: fmt.Sprintf("scaling down in %s", c.opts.ScaleDownDelay)})
	if err := sleep(ctx, c.opts.ScaleDownDelay); err != nil {
		return err
	}
	return c.toStable(ctx, StageScaleDown, p)
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// abort puts all traffic back on stable: it restores stable if Promote
// changed it, and scales the canary to zero, confirmed by the Services'
// endpoints. It runs even when the run's ctx has ended, bounded by
// RollbackTimeout.
func (c *Canary) abort(ctx context.Context, p *canaryPlan, cause error) error {
	f := &Failure{Cause: cause}
	if c.opts.NoRollback {
		return f
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RollbackTimeout)
	defer cancel()
	_ = c.stage(StageAbort, func() error {
		var errs []error
		if p.stable.Applied != nil {
			restored, err := c.rollback(ctx, []*apply.Item{p.stable})
			f.Restored = append(f.Restored, restored...)
			errs = append(errs, err)
			p.stableNow = liveReplicas(p.stable.Before) // as restored; toStable brings a short one back to full
		}
		if err := c.toStable(ctx, StageAbort, p); err != nil {
			errs = append(errs, err)
		} else {
			f.Restored = append(f.Restored, p.canary.Ref()+" (scaled to 0)")
		}
		f.RollbackErr = errors.Join(errs...)
		return f.RollbackErr
	})
	f.RolledBack = f.RollbackErr == nil
	return f
}

// toStable scales the canary to zero in one write and waits until every
// Service's ready endpoints are stable's ready pods and no canary pod is
// one: from then on, no new request reaches the canary.
func (c *Canary) toStable(ctx context.Context, stage string, p *canaryPlan) error {
	if p.gw != nil {
		if err := c.gatewayRouteStable(ctx, stage, p); err != nil {
			return err
		}
		if stage == StageAbort {
			if err := drainDelay(ctx, c.sink, p.canary.Ref(), c.opts.AbortScaleDownDelay); err != nil {
				return err
			}
		}
		return c.scale(ctx, stage, p, 0)
	}
	if err := c.scaleStable(ctx, stage, p, p.stableReplicas); err != nil { // a dynamic scale's
		return err
	}
	if err := c.scale(ctx, stage, p, 0); err != nil {
		return err
	}
	notCanary, err := labels.NewRequirement(TrackLabel, selection.NotEquals, []string{TrackCanary})
	if err != nil {
		return err
	}
	for _, s := range p.services {
		err := readiness.WaitEndpoints(ctx, c.c, readiness.EndpointsOptions{Namespace: s.item.Namespace, Service: s.item.Name(),
			Selector: s.selector.Add(*notCanary), OthersNotReady: true})
		if err != nil {
			return fmt.Errorf("confirm %s routes to stable only: %w", s.item.Ref(), err)
		}
	}
	event.Stamp(c.sink, event.Event{Type: event.Traffic, Stage: stage, Object: p.canary.Ref(), Status: "stable",
		Weight:  &event.Weight{StablePods: p.stableReplicas},
		Message: "all traffic on stable: confirmed in the EndpointSlices, no canary pod is a ready endpoint; each node's kube-proxy applies them within its sync period (1s by default)"})
	return nil
}
