package apply

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/manifest"
)

// TestRefusalsHintSettings: the refusals a setting overrides say so in
// plain words, name no flag, and hint at the setting.
func TestRefusalsHintSettings(t *testing.T) {
	helmOwned := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": "prod",
			"annotations": map[string]any{helmReleaseName: "settings", helmReleaseNamespace: "prod"}}}}
	it := &Item{Namespace: "prod", Before: helmOwned, Object: manifest.Object{
		Unstructured: &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings"}}},
		Source: manifest.Source{File: "base.yaml", Doc: 1},
	}}
	cases := []struct {
		name       string
		err        error
		wantSuffix string
		want       []hint.Setting
	}{
		{"field conflict", conflictError([]metav1.StatusCause{{Field: ".data.greeting", Message: `conflict with "settings-controller"`}}),
			`field conflict: .data.greeting (conflict with "settings-controller"); take these fields over by forcing the conflicts`,
			[]hint.Setting{hint.ForceConflicts}},
		{"owned by Helm", (&Applier{opts: Options{FieldManager: "cutover"}}).refuseHelmOwned(it),
			`owned by Helm release "settings" in namespace "prod": cutover and helm upgrade would fight over it; uninstall it from Helm ` +
				`(helm uninstall --keep-history, or the helm.sh/resource-policy: keep annotation), or have cutover take ownership of it`,
			[]hint.Setting{hint.TakeOwnership}},
		{"owned by Helm, taken", (&Applier{opts: Options{FieldManager: "cutover", TakeOwnership: true}}).refuseHelmOwned(it), "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				if c.wantSuffix != "" {
					t.Fatal("no error")
				}
				return
			}
			if got := c.err.Error(); !strings.HasSuffix(got, c.wantSuffix) {
				t.Errorf("text\n got %q\nwant it to end %q", got, c.wantSuffix)
			}
			if got := hint.Settings(c.err); !slices.Equal(got, c.want) {
				t.Errorf("hints %q, want %q", got, c.want)
			}
		})
	}
}
