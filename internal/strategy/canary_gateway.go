package strategy

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/route"
)

// Gateway mode: the canary's share of traffic is a weight of a Gateway API
// HTTPRoute, exact, instead of a count of pods. The files hold the route
// and the app's Service it sends to (S); cutover derives S-stable and
// S-canary, which add TrackLabel to S's selector, gives stable's pods
// TrackLabel=stable, and rewrites every backendRef of the route to S into
// the weighted pair. A weight is set when every gateway that serves the
// route has accepted the generation that sets it (route.Wait).
const (
	TrackStable   = "stable"
	StableSuffix  = "-stable"
	trackManager  = "cutover-track" // writes TrackLabel alone on an adopted stable Deployment
	gatewayStatus = "each gateway applies an accepted route within its own sync period"
)

// gatewayPlan is what gateway mode adds to a canary's plan.
type gatewayPlan struct {
	route   *apply.Item // the files' route, split at weight
	source  manifest.Object
	pair    route.Backends
	weight  int  // the canary's weight the route was last written with
	written bool // by this run
	// header, if set, sends requests that carry it to the canary from
	// Apply until the route goes back to stable; headerOn says the route
	// was last written with it.
	header   *route.Header
	headerOn bool
}

// planGateway finds the route and the app's Service in the files, derives
// the pair of Services and marks stable's pods; it returns the objects to
// plan in place of others and stable.
func (c *Canary) planGateway(stable manifest.Object, others []manifest.Object) (manifest.Object, []manifest.Object, *gatewayPlan, error) {
	name := c.opts.Route
	var rt *manifest.Object
	var rest []manifest.Object
	for i, o := range others {
		if o.GetKind() == "HTTPRoute" && o.GroupVersionKind().Group == route.Group && o.GetName() == name {
			rt = &others[i]
			continue
		}
		rest = append(rest, o)
	}
	if rt == nil {
		return stable, nil, nil, fmt.Errorf("canary: --route %s: the files hold no HTTPRoute %s (gateway.networking.k8s.io/v1)", name, name)
	}
	g := &gatewayPlan{source: copyObject(*rt), header: c.opts.Header}
	var err error
	if c.opts.Services != nil {
		g.pair = *c.opts.Services
		rest, err = trackNamed(*rt, stable, rest, g.pair)
	} else {
		rest, g.pair, err = deriveTracked(*rt, stable, rest)
	}
	if err != nil {
		return stable, nil, nil, err
	}
	marked := copyObject(stable)
	if err := setLabel(marked.Unstructured, ManagedOptions{SelectorKey: TrackLabel, Color: TrackStable}, "spec", "template", "metadata", "labels"); err != nil {
		return stable, nil, nil, fmt.Errorf("canary: %s: %w", stable.Source, err)
	}
	return marked, rest, g, nil
}

// deriveTracked finds the app's Service S that route rt sends to and adds
// S-stable and S-canary to the objects: managed mode.
func deriveTracked(rt, stable manifest.Object, rest []manifest.Object) ([]manifest.Object, route.Backends, error) {
	svc, err := appService(rt, stable, rest)
	if err != nil {
		return nil, route.Backends{}, err
	}
	pair := pairOf(svc.GetName())
	return append(rest, trackService(svc, pair.Stable, TrackStable), trackService(svc, pair.Canary, TrackCanary)), pair, nil
}

// CanaryPair is the pair of Services a canary through HTTPRoute name of
// objs splits between, when the files hold what it needs (validation says
// what is missing otherwise).
func CanaryPair(objs []manifest.Object, name string, named *route.Backends) (route.Backends, bool) {
	if named != nil {
		return *named, true
	}
	stable, others, err := splitStable(objs)
	if err != nil {
		return route.Backends{}, false
	}
	for _, o := range others {
		if o.GetKind() == "HTTPRoute" && o.GroupVersionKind().Group == route.Group && o.GetName() == name {
			svc, err := appService(o, stable, others)
			if err != nil {
				return route.Backends{}, false
			}
			return pairOf(svc.GetName()), true
		}
	}
	return route.Backends{}, false
}

func pairOf(service string) route.Backends {
	return route.Backends{Service: service, Stable: service + StableSuffix, Canary: service + CanarySuffix}
}

// appService is the Service of the files that route rt sends to and that
// selects stable's pods.
func appService(rt, stable manifest.Object, others []manifest.Object) (manifest.Object, error) {
	pods := templateLabels(stable.Object)
	var named []string
	for _, o := range others {
		if !isService(o) {
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector")
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(pods) {
			continue
		}
		probe := copyObject(rt)
		n, err := route.Split(probe.Unstructured, pairOf(o.GetName()), 0)
		if err != nil {
			return o, fmt.Errorf("canary: %s: HTTPRoute %s: %w", rt.Source, rt.GetName(), err)
		}
		if n > 0 {
			return o, nil
		}
		named = append(named, o.GetName())
	}
	if len(named) == 0 {
		return manifest.Object{}, fmt.Errorf("canary: %s: no Service in the files selects the pods of Deployment %s, for HTTPRoute %s to send to",
			stable.Source, stable.GetName(), rt.GetName())
	}
	return manifest.Object{}, fmt.Errorf("canary: %s: HTTPRoute %s: no rule's backendRefs name the app's Service (%v), which selects the pods of Deployment %s",
		rt.Source, rt.GetName(), named, stable.GetName())
}

// trackService derives S-stable or S-canary from the app's Service: its
// ports, its selector and TrackLabel=track, of type ClusterIP (the route
// reaches it; no second load balancer or node port).
func trackService(svc manifest.Object, name, track string) manifest.Object {
	d := copyObject(svc)
	d.SetName(name)
	d.SetResourceVersion("")
	d.SetUID("")
	addLabel(d.Unstructured, ManagedOptions{SelectorKey: TrackLabel, Color: track}, "metadata", "labels")
	addLabel(d.Unstructured, ManagedOptions{SelectorKey: TrackLabel, Color: track}, "spec", "selector")
	clusterIPOnly(d.Unstructured)
	return d
}

// routeAt plans the route split at weight, with the header rules if any.
func (c *Canary) routeAt(ctx context.Context, g *gatewayPlan, weight int) error {
	o, err := g.split(weight, g.header != nil)
	if err != nil {
		return fmt.Errorf("canary: %s: HTTPRoute %s: %w", o.Source, o.GetName(), err)
	}
	it, err := c.planOne(ctx, o)
	if err != nil {
		return err
	}
	g.route = it
	return nil
}

// split is the files' route split at weight, with the header rules when
// header.
func (g *gatewayPlan) split(weight int, header bool) (manifest.Object, error) {
	o := copyObject(g.source)
	if _, err := route.Split(o.Unstructured, g.pair, weight); err != nil {
		return o, err
	}
	if header && g.header != nil {
		return o, route.AddHeaderRules(o.Unstructured, g.pair, *g.header)
	}
	return o, nil
}

// writeRoute sets the canary's weight on the route, and its header rules
// while the canary runs, in one write, and waits until every gateway that
// serves it has accepted that generation.
func (c *Canary) writeRoute(ctx context.Context, stage string, g *gatewayPlan, weight int, header bool) error {
	o, err := g.split(weight, header)
	if err != nil {
		return err
	}
	body, err := o.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode %s: %w", g.route.Ref(), err)
	}
	force := true
	out, err := c.c.Dynamic.Resource(g.route.Mapping.Resource).Namespace(g.route.Namespace).Patch(ctx, o.GetName(),
		types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: c.ap.FieldManager(), Force: &force})
	if err != nil {
		return fmt.Errorf("set the weights of %s to %d/%d: %w", g.route.Ref(), 100-weight, weight, err)
	}
	g.weight, g.written, g.headerOn = weight, true, header && g.header != nil
	event.Stamp(c.sink, event.Event{Type: event.ObjectApplied, Stage: stage, Object: g.route.Ref(),
		Action: fmt.Sprintf("weights %s %d, %s %d (generation %d)", g.pair.Stable, 100-weight, g.pair.Canary, weight, out.GetGeneration())})
	if _, err := route.Wait(ctx, c.c.Dynamic, g.route.Namespace, o.GetName(), out.GetGeneration()); err != nil {
		return fmt.Errorf("confirm the weights of %s: %w", g.route.Ref(), err)
	}
	return nil
}

// gatewayWeight moves the canary to weight: more canary pods before the
// route sends them more, fewer only after it sends them less.
func (c *Canary) gatewayWeight(ctx context.Context, stage string, p *canaryPlan, weight int) error {
	n, _ := canaryReplicas(weight, p.stableReplicas)
	if p.gw.header != nil {
		n = max(n, 1) // the testers' header reaches it at any weight
	}
	if n > liveCount(p.canary) {
		if err := c.scale(ctx, stage, p, n); err != nil {
			return err
		}
		if err := c.waitRollout(ctx, stage, []*apply.Item{p.canary}, p.routing()); err != nil {
			return err
		}
	}
	if err := c.writeRoute(ctx, stage, p.gw, weight, true); err != nil {
		return err
	}
	if n < liveCount(p.canary) {
		if err := c.scale(ctx, stage, p, n); err != nil {
			return err
		}
	}
	event.Stamp(c.sink, event.Event{Type: event.Traffic, Stage: stage, Object: p.gw.route.Ref(), Status: "set",
		Weight: &event.Weight{Asked: weight, Share: weight, CanaryPods: n, StablePods: p.stableReplicas},
		Message: fmt.Sprintf("weight %d%%: HTTPRoute %s sends %d%% to %s (%d pods) and %d%% to %s, accepted by every gateway; %s",
			weight, p.gw.route.Name(), weight, p.gw.pair.Canary, n, 100-weight, p.gw.pair.Stable, gatewayStatus)})
	return nil
}

// liveCount is the canary's replicas as last written.
func liveCount(it *apply.Item) int { return liveReplicas(it.Object.Unstructured) }

// gatewayRouteStable puts every request on stable with one route write,
// confirmed, unless this run did already.
func (c *Canary) gatewayRouteStable(ctx context.Context, stage string, p *canaryPlan) error {
	if p.gw.written && p.gw.weight == 0 && !p.gw.headerOn {
		return nil
	}
	if err := c.writeRoute(ctx, stage, p.gw, 0, false); err != nil {
		return err
	}
	event.Stamp(c.sink, event.Event{Type: event.Traffic, Stage: stage, Object: p.gw.route.Ref(), Status: "stable",
		Weight:  &event.Weight{StablePods: p.stableReplicas},
		Message: fmt.Sprintf("all traffic on stable: HTTPRoute %s sends nothing to %s, accepted by every gateway; %s", p.gw.route.Name(), p.gw.pair.Canary, gatewayStatus)})
	return nil
}

// adoptStable gives a live stable Deployment whose pods lack
// TrackLabel=stable that label, alone, as its own field manager (the
// pods roll once, on the version they run), and waits until the routing
// items' Services route to them all. In managed mode the route still
// sends to S until then; in explicit mode it sends to the user's stable
// Service, which selects by the label only once they have it (see
// applyThroughGateway).
func (c *Canary) adoptStable(ctx context.Context, p *canaryPlan, routing []*apply.Item) error {
	live := p.stable.Before
	if live == nil || templateLabels(live.Object)[TrackLabel] == TrackStable {
		return nil
	}
	event.Stamp(c.sink, event.Event{Type: event.Warning, Stage: StageApply, Object: p.stable.Ref(),
		Message: fmt.Sprintf("first canary through a gateway: stable's pods get %s=%s so that %s selects them alone; they roll once, on the version they run",
			TrackLabel, TrackStable, p.gw.pair.Stable)})
	patch := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": p.stable.Name(), "namespace": p.stable.Namespace},
		"spec":     map[string]any{"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{TrackLabel: TrackStable}}}},
	}}
	body, err := patch.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	if _, err := c.c.Dynamic.Resource(p.stable.Mapping.Resource).Namespace(p.stable.Namespace).Patch(ctx, p.stable.Name(),
		types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: trackManager, Force: &force}); err != nil {
		return fmt.Errorf("label the pods of %s %s=%s: %w", p.stable.Ref(), TrackLabel, TrackStable, err)
	}
	// An abort after Promote restores stable as it was before: labelled.
	before := live.DeepCopy()
	addLabel(before, ManagedOptions{SelectorKey: TrackLabel, Color: TrackStable}, "spec", "template", "metadata", "labels")
	p.stable.Before = before
	return c.waitRollout(ctx, StageApply, []*apply.Item{p.stable}, routing)
}

// canaryService is S-canary among the planned items, routed by its
// selector: it selects no pod until the canary runs some.
func (g *gatewayPlan) canaryService(items []*apply.Item) []routed {
	for _, it := range items {
		if it.Kind() == "Service" && it.Name() == g.pair.Canary {
			sel, _, _ := unstructured.NestedStringMap(it.Object.Object, "spec", "selector")
			return []routed{{item: it, selector: labels.SelectorFromSet(sel)}}
		}
	}
	return nil // planGateway adds it: not reached
}

// withoutTrack is a copy of a Deployment without TrackLabel on its pod
// template: stable's label is gateway mode's, not a change of version.
func withoutTrack(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "spec", "template", "metadata", "labels", TrackLabel)
	return c
}
