package strategy

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/manifest"
)

func TestRoutedServices(t *testing.T) {
	item := func(ns string, obj map[string]any) *apply.Item {
		return &apply.Item{Object: manifest.Object{Unstructured: &unstructured.Unstructured{Object: obj}}, Namespace: ns}
	}
	svc := func(name string, spec map[string]any) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": name}, "spec": spec}
	}
	deployment := func(name string, replicas any, labels map[string]any) map[string]any {
		spec := map[string]any{"template": map[string]any{"metadata": map[string]any{"labels": labels}}}
		if replicas != nil {
			spec["replicas"] = replicas
		}
		return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name}, "spec": spec}
	}
	web := map[string]any{"app": "web", "tier": "front"}
	items := []*apply.Item{
		item("prod", deployment("web", int64(3), web)),
		item("prod", deployment("idle", int64(0), map[string]any{"app": "idle"})),
		item("prod", deployment("default-replicas", nil, map[string]any{"app": "one"})),
		item("prod", svc("web", map[string]any{"selector": map[string]any{"app": "web"}})),
		item("prod", svc("web-front", map[string]any{"selector": map[string]any{"app": "web", "tier": "front"}})),
		item("prod", svc("one", map[string]any{"selector": map[string]any{"app": "one"}})),
		item("prod", svc("idle", map[string]any{"selector": map[string]any{"app": "idle"}})),                 // no pods to route to
		item("prod", svc("back", map[string]any{"selector": map[string]any{"app": "web", "tier": "back"}})),  // selects no Deployment's pods
		item("prod", svc("external", map[string]any{"type": "ExternalName", "externalName": "example.com"})), // no selector
		item("prod", svc("peers", map[string]any{"selector": map[string]any{"app": "web"}, "publishNotReadyAddresses": true})),
		item("other", svc("web", map[string]any{"selector": map[string]any{"app": "web"}})), // another namespace
	}
	var got []string
	for _, r := range routedServices(items) {
		got = append(got, r.item.Namespace+"/"+r.item.Name())
	}
	if want := []string{"prod/web", "prod/web-front", "prod/one"}; !slices.Equal(got, want) {
		t.Errorf("routed services %v, want %v", got, want)
	}
}
