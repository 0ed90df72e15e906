package strategy

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/readiness"
)

// AnnotationScaledFrom is put on a Deployment that the scale-down idle
// policy scaled to zero; it keeps the replicas it had, so that a rollback
// can bring the previous release back.
const AnnotationScaledFrom = "cutover.dev/scaled-down-from"

// StageRestore is the rollback stage that scales a scaled-down color up.
const StageRestore = "Restore"

var deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// Rollback switches production back to color, which must still run the
// previous release: images, if given, are that release's images. A color
// the scale-down policy scaled to zero is scaled up again and waited for
// first. Production is switched only to a color whose pods are all ready.
func (b *BlueGreen) Rollback(ctx context.Context, color string, images []string) error {
	var e env
	var deps []appsv1.Deployment
	err := b.stage(StageCheckEnv, func() (err error) {
		if e, err = b.checkEnv(ctx); err != nil {
			return err
		}
		deps, err = b.rollbackTargets(ctx, e, color, images)
		return err
	})
	if err == nil && b.opts.BeforeWrite != nil {
		err = b.opts.BeforeWrite(ctx)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if err := b.stage(StageRestore, func() error { return b.restore(ctx, deps) }); err != nil {
		return &Failure{Cause: err, Untouched: true}
	}
	prev := e.active
	e.active = color // the color to check before switching
	if err := b.stage(StageSwitch, func() error {
		if err := b.colorReady(ctx, e, color); err != nil {
			return err
		}
		return b.switchTo(ctx, e, color, nil, nil)
	}); err != nil {
		return &Failure{Cause: err, RollbackErr: fmt.Errorf("production may still select %s", prev)}
	}
	return nil
}

// rollbackTargets finds color's Deployments and checks that they run
// images.
func (b *BlueGreen) rollbackTargets(ctx context.Context, e env, color string, images []string) ([]appsv1.Deployment, error) {
	if e.prod == nil {
		return nil, fmt.Errorf("no production service %s", b.opts.Service)
	}
	if e.prod.Spec.Selector[b.opts.SelectorKey] == color {
		return nil, fmt.Errorf("production service %s already selects %s", b.opts.Service, color)
	}
	deps, err := b.colorDeployments(ctx, e, color)
	if err != nil {
		return nil, err
	}
	if len(deps) == 0 {
		return nil, fmt.Errorf("no Deployment of %s is left to switch back to", color)
	}
	if got := DeploymentImages(deps); len(images) > 0 && !slices.Equal(got, images) {
		return nil, fmt.Errorf("%s runs %v, not the previous release %v (idle policy update?): deploy that release again",
			color, got, images)
	}
	return deps, nil
}

// colorDeployments lists the Deployments whose pods the production
// selector picks when it selects color.
func (b *BlueGreen) colorDeployments(ctx context.Context, e env, color string) ([]appsv1.Deployment, error) {
	sel := labels.Set{}
	for k, v := range e.prod.Spec.Selector {
		sel[k] = v
	}
	sel[b.opts.SelectorKey] = color
	list, err := b.c.Typed.AppsV1().Deployments(b.c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	var out []appsv1.Deployment
	for _, d := range list.Items {
		if labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out, nil
}

// DeploymentImages are the images of deps' pod templates, init containers
// included, sorted and without repeats: as manifest.Images records a
// release's.
func DeploymentImages(deps []appsv1.Deployment) []string {
	var out []string
	for _, d := range deps {
		spec := d.Spec.Template.Spec
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			out = append(out, c.Image)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// restore scales up the Deployments that scale-down scaled to zero, and
// waits until all of them are ready.
func (b *BlueGreen) restore(ctx context.Context, deps []appsv1.Deployment) error {
	targets := make([]readiness.Target, 0, len(deps))
	for _, d := range deps {
		if n, err := strconv.Atoi(d.Annotations[AnnotationScaledFrom]); err == nil && n > 0 && d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
			if err := b.scaleTo(ctx, d.Name, int32(n), ""); err != nil {
				return err
			}
			event.Stamp(b.sink, event.Event{Type: event.ObjectApplied, Stage: StageRestore,
				Object: fmt.Sprintf("Deployment/%s/%s", d.Namespace, d.Name), Action: fmt.Sprintf("scaled to %d", n)})
		}
		targets = append(targets, readiness.Target{Resource: deploymentsGVR, Namespace: d.Namespace, Name: d.Name,
			Ref: fmt.Sprintf("Deployment/%s/%s", d.Namespace, d.Name)})
	}
	return readiness.Wait(ctx, b.c, targets, readiness.Options{Sink: b.sink, Stage: StageRestore})
}
