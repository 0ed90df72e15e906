package strategy

import (
	"context"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/manifest"
)

type eventSink = event.Sink

const mergePatch = types.MergePatchType

// post applies the idle policy to the previously active color.
func (b *BlueGreen) post(ctx context.Context, e env) error {
	if e.active == "" {
		b.skip(StagePost, "first deploy: no idle color yet")
		return nil
	}
	return b.stage(StagePost, func() error {
		switch b.opts.IdlePolicy {
		case IdleScaleDown:
			return b.scaleDown(ctx, e.active)
		case IdleUpdate:
			return b.update(ctx, e.active)
		}
		event.Stamp(b.sink, event.Event{Type: event.ObjectStatus, Stage: StagePost, Object: "color " + e.active,
			Status: "kept", Message: "the previous release stays up as a hot backup for an instant switch back"})
		return nil
	})
}

// idleObjects renders the files for the idle color, without the production
// Service.
func (b *BlueGreen) idleObjects(ctx context.Context, color string) ([]manifest.Object, error) {
	objs, err := b.opts.Render(ctx, color)
	if err != nil {
		return nil, err
	}
	var out []manifest.Object
	for _, o := range objs {
		if !b.isProd(o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// scaleDown waits for the delay (existing connections drain and endpoint
// changes reach every node meanwhile), then scales the color's Deployments
// to zero as the field manager that owns their replicas.
func (b *BlueGreen) scaleDown(ctx context.Context, color string) error {
	objs, err := b.idleObjects(ctx, color)
	if err != nil {
		return err
	}
	event.Stamp(b.sink, event.Event{Type: event.ObjectStatus, Stage: StagePost, Object: "color " + color,
		Status: "waiting", Message: fmt.Sprintf("scaling down in %s", b.opts.ScaleDownDelay)})
	if err := sleep(ctx, b.opts.ScaleDownDelay); err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GroupVersionKind().Group != "apps" {
			continue
		}
		if err := b.scaleToZero(ctx, o.GetName()); err != nil {
			return err
		}
	}
	return nil
}

func (b *BlueGreen) scaleToZero(ctx context.Context, name string) error {
	d, err := b.c.Typed.AppsV1().Deployments(b.c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("scale down %s: %w", name, err)
	}
	from := strconv.Itoa(int(ptr.Deref(d.Spec.Replicas, 1)))
	if err := b.scaleTo(ctx, name, 0, from); err != nil {
		return err
	}
	event.Stamp(b.sink, event.Event{Type: event.ObjectApplied, Stage: StagePost,
		Object: fmt.Sprintf("Deployment/%s/%s", b.c.Namespace, name), Action: "scaled to 0"})
	return nil
}

// scaleTo sets a Deployment's replicas as the field manager that owns
// them, noting scaledFrom in AnnotationScaledFrom (or dropping the note
// when scaledFrom is empty).
func (b *BlueGreen) scaleTo(ctx context.Context, name string, replicas int32, scaledFrom string) error {
	deployments := b.c.Typed.AppsV1().Deployments(b.c.Namespace)
	d, err := deployments.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("scale %s: %w", name, err)
	}
	ac, err := appsv1ac.ExtractDeployment(d, b.ap.FieldManager())
	if err != nil {
		return fmt.Errorf("scale %s: %w", name, err)
	}
	if ac.Spec == nil {
		ac.Spec = appsv1ac.DeploymentSpec()
	}
	ac.Spec.Replicas = ptr.To(replicas)
	delete(ac.Annotations, AnnotationScaledFrom)
	if scaledFrom != "" {
		ac.WithAnnotations(map[string]string{AnnotationScaledFrom: scaledFrom})
	}
	if _, err := deployments.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: b.ap.FieldManager(), Force: true}); err != nil {
		return fmt.Errorf("scale %s: %w", name, err)
	}
	return nil
}

// update brings the idle color to the new release too, as a hot backup.
func (b *BlueGreen) update(ctx context.Context, color string) error {
	objs, err := b.idleObjects(ctx, color)
	if err != nil {
		return err
	}
	items, err := b.ap.Plan(ctx, objs)
	if err != nil {
		return err
	}
	if err := b.ap.Apply(ctx, items); err != nil {
		return err
	}
	return b.wait(ctx, StagePost, items)
}

// unstructuredSelector reads a Service item's spec.selector.
func unstructuredSelector(it *apply.Item) (map[string]string, bool, error) {
	return unstructured.NestedStringMap(it.Object.Object, "spec", "selector")
}
