package strategy

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/readiness"
)

// routed is a Service of a release that sends traffic to pods of one of the
// release's Deployments.
type routed struct {
	item     *apply.Item
	selector labels.Selector
}

// routedServices returns the Services among items whose selector picks the
// pods of a Deployment among items that runs at least one replica. A
// Service that publishes not-ready addresses is left out: its endpoints
// do not follow readiness.
func routedServices(items []*apply.Item) []routed {
	var out []routed
	for _, svc := range servicesAmong(items) {
		sel, found, _ := unstructured.NestedStringMap(svc.Object.Object, "spec", "selector")
		publish, _, _ := unstructured.NestedBool(svc.Object.Object, "spec", "publishNotReadyAddresses")
		if !found || len(sel) == 0 || publish {
			continue
		}
		selector := labels.SelectorFromSet(sel)
		for _, d := range items {
			if d.Kind() == "Deployment" && d.Namespace == svc.Namespace && runsPods(d.Object.Object) && selector.Matches(templateLabels(d.Object.Object)) {
				out = append(out, routed{item: svc, selector: selector})
				break
			}
		}
	}
	return out
}

// servicesAmong returns the core Services among items.
func servicesAmong(items []*apply.Item) []*apply.Item {
	var out []*apply.Item
	for _, it := range items {
		if it.Kind() == "Service" && it.Object.GroupVersionKind().Group == "" {
			out = append(out, it)
		}
	}
	return out
}

func runsPods(obj map[string]any) bool {
	n, found, _ := unstructured.NestedInt64(obj, "spec", "replicas")
	return !found || n > 0
}

func templateLabels(obj map[string]any) labels.Set {
	l, _, _ := unstructured.NestedStringMap(obj, "spec", "template", "metadata", "labels")
	return l
}

// endpointNeeds are the permissions of waitServices.
func endpointNeeds(items []*apply.Item) []access.Need {
	var out []access.Need
	for _, s := range routedServices(items) {
		why := "confirm that Service " + s.item.Ref() + " sends traffic to the new pods"
		out = append(out, access.Verbs(s.item.Namespace, access.EndpointSlices, why, "list", "watch")...)
		out = append(out, access.Verbs(s.item.Namespace, access.Pods, why, "list", "watch")...)
	}
	return out
}

// waitServices waits, after the rollout, until each Service that routes to
// the release's pods has them, and only them, as its ready endpoints: the
// Deployment's status can be done while the EndpointSlice controller still
// sends traffic to old pods (for seconds, after an API server restart).
// A View of the namespace with EndpointSlices may be given; other
// namespaces get their own.
func (r runner) waitServices(ctx context.Context, stage string, items []*apply.Item, view *readiness.View) error {
	views := map[string]*readiness.View{}
	defer func() {
		for _, v := range views {
			v.Stop()
		}
	}()
	shared := func(ns string) *readiness.View {
		if view != nil && view.Namespace() == ns {
			return view
		}
		return views[ns]
	}
	for _, s := range routedServices(items) {
		v := shared(s.item.Namespace)
		if v == nil {
			var err error
			if v, err = readiness.StartView(ctx, r.c, readiness.ViewOptions{Namespace: s.item.Namespace, EndpointSlices: true}); err != nil {
				return err
			}
			views[s.item.Namespace] = v
		}
		err := readiness.WaitEndpoints(ctx, r.c, readiness.EndpointsOptions{Namespace: s.item.Namespace, Service: s.item.Name(),
			Selector: s.selector, View: v})
		if err != nil {
			return fmt.Errorf("%s: %w", s.item.Ref(), err)
		}
		event.Stamp(r.sink, event.Event{Type: event.ObjectStatus, Stage: stage, Object: s.item.Ref(), Status: "Current",
			Message: "its ready endpoints are the ready pods it selects"})
	}
	return nil
}
