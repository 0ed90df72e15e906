package strategy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hazard"
	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/manifest"
)

// HazardStatus is the status of the zero-downtime pre-flight's warnings;
// their Action is the rule (package hazard).
const HazardStatus = "zero-downtime"

// strictRefusal begins the error of a release refused for its hazards.
var strictRefusal = hint.New(hint.Strict, "zero-downtime hazards refused in strict mode")

// checkHazards runs the zero-downtime pre-flight over the release's
// Deployments behind services: each finding is a warning event, or, with
// strict, the whole release is refused (every finding named by file,
// document and field).
func (r runner) checkHazards(stage string, items []*apply.Item, services []hazard.Service, opts hazard.Options, strict bool) error {
	var ws []hazard.Workload
	for _, it := range items {
		if it.Kind() == "Deployment" && it.Object.GroupVersionKind().Group == "apps" {
			ws = append(ws, hazard.Workload{Object: it.Object, Namespace: it.Namespace, Ref: it.Ref()})
		}
	}
	findings, err := hazard.Check(ws, services, opts)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range findings {
		s := f.Object.Source
		located := &manifest.Error{File: s.File, Doc: s.Doc, Line: s.Line, Field: f.Field, Err: fmt.Errorf("%s: %s (%s)", f.Ref, f.Message, f.Rule)}
		if strict {
			errs = append(errs, located)
			continue
		}
		event.Stamp(r.sink, event.Event{Type: event.Warning, Stage: stage, Object: f.Ref, Status: HazardStatus,
			Action: f.Rule, Message: located.Error()})
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", strictRefusal, errors.Join(errs...))
	}
	return nil
}

// releaseServices are the core Services among items.
func releaseServices(items []*apply.Item) []hazard.Service {
	var out []hazard.Service
	for _, it := range servicesAmong(items) {
		sel, _, _ := unstructured.NestedStringMap(it.Object.Object, "spec", "selector")
		out = append(out, hazard.Service{Namespace: it.Namespace, Name: it.Name(), Selector: sel})
	}
	return out
}

// liveServices lists the Services already in the namespaces of the
// release's Deployments: the article applies its Services apart from its
// Deployments.
func (r runner) liveServices(ctx context.Context, items []*apply.Item) ([]hazard.Service, error) {
	var out []hazard.Service
	var seen []string
	for _, it := range items {
		if it.Kind() != "Deployment" || slices.Contains(seen, it.Namespace) {
			continue
		}
		seen = append(seen, it.Namespace)
		list, err := r.c.Typed.CoreV1().Services(it.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list Services of namespace %s for the zero-downtime pre-flight: %w", it.Namespace, err)
		}
		for _, s := range list.Items {
			out = append(out, hazard.Service{Namespace: s.Namespace, Name: s.Name, Selector: s.Spec.Selector})
		}
	}
	return out, nil
}

// hazardNeeds are the permissions of liveServices.
func hazardNeeds(items []*apply.Item) []access.Need {
	var out []access.Need
	for _, it := range items {
		if it.Kind() == "Deployment" {
			out = append(out, access.Verbs(it.Namespace, access.Services,
				"find the Services that route to "+it.Ref()+" (zero-downtime pre-flight)", "list")...)
		}
	}
	return out
}
