package strategy

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/drift"
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
	// guard watches production's and the test Services' endpoints over
	// the same span; nil when off.
	guard *drift.Guard
}

func (d deployed) stop() {
	if d.guard != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = d.guard.Stop(ctx) // the blue/green guard pauses nothing; its episodes were reported as they happened
		cancel()
	}
	if d.view != nil {
		d.view.Stop()
	}
}

// guardTargets are the Services the drift guard watches in a blue/green
// run: production's, before and after the switch, and the color's test
// Services.
func (b *BlueGreen) guardTargets(items []*apply.Item) []drift.Target {
	out := []drift.Target{{Service: b.opts.Service}}
	for _, svc := range testServices(items) {
		if svc.Namespace == b.c.Namespace && svc.Name() != b.opts.Service {
			out = append(out, drift.Target{Service: svc.Name()})
		}
	}
	return out
}

func (b *BlueGreen) guardNeeds(items []*apply.Item) []access.Need {
	if b.opts.EndpointGuard.Off {
		return nil
	}
	return guardNeeds(b.c.Namespace, targetNames(b.guardTargets(items)), false)
}

// startView starts the run's View of the namespace: pods, ReplicaSets
// (if the color has a Deployment) and EndpointSlices.
func (b *BlueGreen) startView(ctx context.Context, items []*apply.Item) (*readiness.View, error) {
	o := readiness.ViewOptions{Namespace: b.c.Namespace, EndpointSlices: true, Services: !b.opts.EndpointGuard.Off}
	for _, it := range items {
		o.ReplicaSets = o.ReplicaSets || (it.Kind() == "Deployment" && it.Namespace == b.c.Namespace)
	}
	// The View outlives the run's ctx, to the end of Run: a switch back
	// after a timeout still reads it.
	return readiness.StartView(context.WithoutCancel(ctx), b.c, o)
}

// waitColor waits until the color's objects are ready. Its pods tell
// first, two controller hops before the Deployment's status (FromPods),
// but that alone is not enough to switch on: after the switch, production's
// EndpointSlices are computed by the EndpointSlice controller from its own
// cache of the pods, which may lag ours (by seconds after an API server
// restart: production then had no ready endpoint for 1.2 s in a chaos run).
// The color's test Services prove the controller has caught up: their
// EndpointSlices must hold exactly the color's ready pods. Without a test
// Service, the Deployment's status is that proof (the controllers share
// one cache), and Deploy waits for it.
func (b *BlueGreen) waitColor(ctx context.Context, d deployed) error {
	tests := testServices(d.items)
	// The idle color serves no one: its old pods may finish terminating
	// after the switch (they are not ready, so they get no new
	// connections), but every new pod must be ready.
	opts := readiness.Options{Sink: b.sink, Stage: StageDeploy, IgnoreTerminating: true, FromPods: len(tests) > 0, View: d.view}
	if err := b.waitWith(ctx, d.items, opts); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, svc := range tests {
		sel, _, _ := unstructuredSelector(svc)
		g.Go(func() error {
			return readiness.WaitEndpoints(gctx, b.c, readiness.EndpointsOptions{
				Namespace: svc.Namespace, Service: svc.Name(), Selector: labels.SelectorFromSet(sel), View: d.viewOf(svc.Namespace)})
		})
	}
	return g.Wait()
}

// verifyStaged runs Verify Staged's checks. Deploy has made sure that the
// color's test Services send traffic to its new pods only.
func (b *BlueGreen) verifyStaged(ctx context.Context, e env) error {
	return b.verify(ctx, StageVerifyStaged, b.opts.Checks(StageVerifyStaged, e.target))
}

// viewOf returns the run's View if it covers ns.
func (d deployed) viewOf(ns string) *readiness.View {
	if d.view != nil && d.view.Namespace() == ns {
		return d.view
	}
	return nil
}
