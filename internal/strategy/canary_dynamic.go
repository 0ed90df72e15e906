package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
)

// StableReplicasAnnotation, on a stable Deployment that a dynamic stable
// scale has scaled down, keeps its full count: a rerun of a killed run,
// and the abort of a dead one, scale it back from there.
const StableReplicasAnnotation = "cutover.dev/stable-replicas"

// split is how many canary and stable pods approximate weight percent of
// the traffic, and the share the canary's then carry. Stable keeps its
// full count (p.stableReplicas) unless the scale is dynamic.
func (c *Canary) split(p *canaryPlan, weight int) (canary, stable, share int) {
	if !c.opts.DynamicStableScale {
		canary, share = canaryReplicas(weight, p.stableReplicas)
		return canary, p.stableReplicas, share
	}
	return dynamicSplit(weight, p.stableReplicas)
}

// dynamicSplit shares stable's full count between the two: the canary runs
// weight percent of it, rounded up, and stable the rest, keeping one pod
// while the weight is under 100 (then the two run one more than full).
func dynamicSplit(weight, full int) (canary, stable, share int) {
	switch {
	case weight <= 0:
		return 0, full, 0
	case full <= 0:
		return 1, 0, 100 // nothing stable to share with
	}
	canary = min((weight*full+99)/100, full)
	stable = full - canary
	if weight < 100 {
		stable = max(stable, 1)
	}
	return canary, stable, (100*canary + (canary+stable)/2) / (canary + stable)
}

// scaleBoth sets the canary to n and stable to s pods, one after the
// other so that the two never run fewer ready pods than before: the one
// that grows first, until its pods are ready and routed to, then the one
// that shrinks.
func (c *Canary) scaleBoth(ctx context.Context, stage string, p *canaryPlan, n, s int) error {
	canary := func() error {
		if n != liveCount(p.canary) {
			if err := c.scale(ctx, stage, p, n); err != nil {
				return err
			}
		}
		return c.waitRollout(ctx, stage, []*apply.Item{p.canary}, p.routing())
	}
	stable := func() error { return c.scaleStable(ctx, stage, p, s) }
	first, then := canary, stable
	if n < liveCount(p.canary) {
		first, then = stable, canary
	}
	if err := first(); err != nil {
		return err
	}
	return then()
}

// scaleStable sets the stable Deployment to s pods in one write, keeping
// its full count in StableReplicasAnnotation while s is below it, and
// waits until they are ready and routed to.
func (c *Canary) scaleStable(ctx context.Context, stage string, p *canaryPlan, s int) error {
	if s == p.stableNow {
		return nil
	}
	if err := setStable(ctx, c.c, p.stable.Namespace, p.stable.Name(), s, p.stableReplicas, c.ap.FieldManager()); err != nil {
		return err
	}
	p.stableNow = s
	event.Stamp(c.sink, event.Event{Type: event.ObjectApplied, Stage: stage, Object: p.stable.Ref(),
		Action: fmt.Sprintf("scaled to %d of %d (dynamic stable scale)", s, p.stableReplicas)})
	return c.waitRollout(ctx, stage, []*apply.Item{p.stable}, p.routing())
}

// setStable writes a stable Deployment's replicas and the annotation that
// keeps its full count (left out, so removed, once s is full), applied by
// apply.ScaleManager: the files' next apply takes replicas back without a
// conflict.
func setStable(ctx context.Context, c *kube.Clients, ns, name string, s, full int, fieldManager string) error {
	meta := map[string]any{"name": name, "namespace": ns}
	if s < full {
		meta["annotations"] = map[string]any{StableReplicasAnnotation: strconv.Itoa(full)}
	}
	body, _ := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
		"spec": map[string]any{"replicas": s}})
	force := true
	_, err := c.Typed.AppsV1().Deployments(ns).Patch(ctx, name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: apply.ScaleManager(fieldManager), Force: &force})
	if err != nil {
		return fmt.Errorf("scale deployment %s/%s to %d: %w", ns, name, s, err)
	}
	return nil
}

// restoreLeftStable, for the abort of a dead run, scales a stable
// Deployment that a dynamic scale left short back to its full count and
// waits until that many of its pods are ready; true if it had to.
func restoreLeftStable(ctx context.Context, c *kube.Clients, ns, name, fieldManager string) (bool, error) {
	d, err := c.Typed.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("read the stable deployment %s/%s: %w", ns, name, err)
	}
	kept, short := d.Annotations[StableReplicasAnnotation]
	if !short {
		return false, nil
	}
	full, err := strconv.Atoi(kept)
	if err != nil || full < 0 {
		return false, fmt.Errorf("deployment %s/%s: annotation %s=%q is not a replica count", ns, name, StableReplicasAnnotation, kept)
	}
	if err := setStable(ctx, c, ns, name, full, full, fieldManager); err != nil {
		return false, err
	}
	target := readiness.Target{Resource: appsv1.SchemeGroupVersion.WithResource("deployments"), Namespace: ns, Name: name, Ref: "Deployment/" + ns + "/" + name}
	return true, readiness.Wait(ctx, c, []readiness.Target{target}, readiness.Options{})
}

// fullReplicas is a live stable Deployment's full count: what a dynamic
// scale that scaled it down kept, else what it runs.
func fullReplicas(live *unstructured.Unstructured) int {
	if live == nil {
		return 0
	}
	if n, err := strconv.Atoi(live.GetAnnotations()[StableReplicasAnnotation]); err == nil && n >= 0 {
		return n
	}
	return liveReplicas(live)
}

// applyStable gives stable the new pod template at Promote. After a
// dynamic scale it comes back to full in the same write (the files'
// count, if they set one), and the annotation that kept it goes.
func (c *Canary) applyStable(ctx context.Context, p *canaryPlan) error {
	short := p.stableNow != p.stableReplicas
	if short {
		if _, set, _ := unstructured.NestedInt64(p.stable.Object.Object, "spec", "replicas"); !set {
			it, err := c.planOne(ctx, withReplicas(p.stable.Object, p.stableReplicas))
			if err != nil {
				return err
			}
			p.stable = it
		}
	}
	if err := c.ap.Apply(ctx, []*apply.Item{p.stable}); err != nil {
		return err
	}
	if !short {
		return nil
	}
	full := liveCount(p.stable)
	p.stableReplicas, p.stableNow = full, full
	return setStable(ctx, c.c, p.stable.Namespace, p.stable.Name(), full, full, c.ap.FieldManager())
}
