package apply

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/manifest"
)

// The server refuses an apply patch that does not fit the kind's schema
// with a message and no structured cause; explain names the field and
// keeps the reason.
func TestExplainTypedPatchRefusals(t *testing.T) {
	it := &Item{Namespace: "prod", Object: manifest.Object{
		Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"},
		}},
		Source: manifest.Source{File: "app.yaml", Doc: 2, Line: 8},
	}}
	const prefix = "failed to create typed patch object (prod/web; apps/v1, Kind=Deployment): "
	cases := []struct{ msg, want string }{
		{prefix + ".spec.replicas: expected numeric (int or float), got string",
			"app.yaml: document 2, line 8: spec.replicas: Deployment/prod/web: expected numeric (int or float), got string"},
		{prefix + ".spec.replicaz: field not declared in schema",
			"app.yaml: document 2, line 8: spec.replicaz: Deployment/prod/web: unknown field: not in the schema of Deployment"},
		{prefix + `.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].nam: field not declared in schema`,
			`app.yaml: document 2, line 8: spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].nam: ` +
				"Deployment/prod/web: unknown field: not in the schema of Deployment"},
		{prefix + "errors:\n  .spec.a: field not declared in schema\n  .spec.b: field not declared in schema",
			"app.yaml: document 2, line 8: spec.a: Deployment/prod/web: unknown field: not in the schema of Deployment"},
	}
	for _, tc := range cases {
		err := (&Applier{}).explain(it, apierrors.NewBadRequest(tc.msg))
		if !errors.Is(err, ErrInvalid) || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("explain(%q) = %v\nwant ErrInvalid ending in %q", tc.msg, err, tc.want)
		}
	}
}
