package strategy

import (
	"context"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/readiness"
)

// testServices returns the Services among a color's objects that select
// the pods of one of its Deployments (with at least one replica): the
// color's test endpoints, which Verify Staged reaches it through.
func testServices(items []*apply.Item) []*apply.Item {
	var templates []labels.Set
	for _, it := range items {
		if it.Kind() != "Deployment" {
			continue
		}
		if n, found, _ := unstructured.NestedInt64(it.Object.Object, "spec", "replicas"); found && n == 0 {
			continue
		}
		l, _, _ := unstructured.NestedStringMap(it.Object.Object, "spec", "template", "metadata", "labels")
		templates = append(templates, l)
	}
	var out []*apply.Item
	for _, it := range items {
		if it.Kind() != "Service" || it.Object.GroupVersionKind().Group != "" {
			continue
		}
		sel, _, _ := unstructuredSelector(it)
		// publishNotReadyAddresses marks every endpoint ready: its slices
		// cannot tell the new pods from the old.
		if all, _, _ := unstructured.NestedBool(it.Object.Object, "spec", "publishNotReadyAddresses"); len(sel) == 0 || all {
			continue
		}
		for _, l := range templates {
			if labels.SelectorFromSet(sel).Matches(l) {
				out = append(out, it)
				break
			}
		}
	}
	return out
}

// deployed is what Deploy leaves for the stages after it.
type deployed struct {
	prod  *manifest.Object // the production Service of the files (a first deploy creates it)
	items []*apply.Item    // the color's objects, as applied
	// view watches the namespace from before Deploy's first write to the
	// end of the run; nil before that.
	view *readiness.View
}

func (d deployed) stop() {
	if d.view != nil {
		d.view.Stop()
	}
}

// startView starts the run's View of the namespace: pods, ReplicaSets
// (if the color has a Deployment) and EndpointSlices.
func (b *BlueGreen) startView(ctx context.Context, items []*apply.Item) (*readiness.View, error) {
	o := readiness.ViewOptions{Namespace: b.c.Namespace, EndpointSlices: true}
	for _, it := range items {
		o.ReplicaSets = o.ReplicaSets || (it.Kind() == "Deployment" && it.Namespace == b.c.Namespace)
	}
	// The View outlives the run's ctx, to the end of Run: a switch back
	// after a timeout still reads it.
	return readiness.StartView(context.WithoutCancel(ctx), b.c, o)
}

// verifyStaged runs Verify Staged's checks once the color's test Services
// route to its new pods only: Deploy ends when the pods are ready, a hop
// before the EndpointSlice controller has caught up; without this, the
// first attempt could reach an old pod on its way out (a false failure,
// retried only after the check's interval) or find no endpoint.
func (b *BlueGreen) verifyStaged(ctx context.Context, e env, d deployed) error {
	checks := b.opts.Checks(StageVerifyStaged, e.target)
	if len(checks) == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, svc := range testServices(d.items) {
		sel, _, _ := unstructuredSelector(svc)
		g.Go(func() error {
			return readiness.WaitEndpoints(gctx, b.c, readiness.EndpointsOptions{
				Namespace: svc.Namespace, Service: svc.Name(), Selector: labels.SelectorFromSet(sel), View: d.viewOf(svc.Namespace)})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return b.verify(ctx, StageVerifyStaged, checks)
}

// viewOf returns the run's View if it covers ns.
func (d deployed) viewOf(ns string) *readiness.View {
	if d.view != nil && d.view.Namespace() == ns {
		return d.view
	}
	return nil
}
