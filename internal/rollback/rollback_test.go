package rollback

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func dep(image string, replicas int64, extra map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "ns"},
		"spec": map[string]any{
			"replicas": replicas,
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}},
			},
		},
	}}
	for k, v := range extra {
		u.Object["metadata"].(map[string]any)[k] = v
	}
	return u
}

func TestConfigRestoresTemplateAndReplicas(t *testing.T) {
	before := dep("tomcat:7", 2, map[string]any{"resourceVersion": "42", "uid": "u-1", "generation": int64(3)})
	_ = unstructured.SetNestedField(before.Object, "abc123", "spec", "template", "metadata", "labels", "pod-template-hash")
	applied := dep("tomcat:8", 5, nil)
	cfg, err := Plan{Ref: "Deployment/ns/web", Applied: applied, Before: before}.Config()
	if err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(cfg.Object, "spec", "template", "spec", "containers")
	if img := containers[0].(map[string]any)["image"]; img != "tomcat:7" {
		t.Errorf("image %v, want tomcat:7", img)
	}
	if n, _, _ := unstructured.NestedInt64(cfg.Object, "spec", "replicas"); n != 2 {
		t.Errorf("replicas %d, want 2", n)
	}
	if _, found, _ := unstructured.NestedString(cfg.Object, "spec", "template", "metadata", "labels", "pod-template-hash"); found {
		t.Error("pod-template-hash label kept")
	}
	if cfg.GetResourceVersion() != "" || cfg.GetUID() != "" {
		t.Error("server-owned metadata kept in an apply configuration")
	}
	// The applied configuration itself is untouched.
	if c, _, _ := unstructured.NestedSlice(applied.Object, "spec", "template", "spec", "containers"); c[0].(map[string]any)["image"] != "tomcat:8" {
		t.Error("Config modified the applied configuration")
	}
}

func TestConfigKeepsReplicasUnownedWhenNotApplied(t *testing.T) {
	applied := dep("tomcat:8", 5, nil)
	unstructured.RemoveNestedField(applied.Object, "spec", "replicas")
	cfg, err := Plan{Applied: applied, Before: dep("tomcat:7", 2, nil)}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedInt64(cfg.Object, "spec", "replicas"); found {
		t.Error("rollback would take ownership of replicas (an HPA's field) that the release did not set")
	}
}

func TestConfigWithoutPreviousRevision(t *testing.T) {
	if _, err := (Plan{Applied: dep("tomcat:8", 1, nil)}).Config(); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("err %v, want ErrNoPrevious", err)
	}
}
