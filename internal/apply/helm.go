package apply

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/hint"
)

// Helm's marks on the objects of a release it installed.
const (
	helmReleaseName      = "meta.helm.sh/release-name"
	helmReleaseNamespace = "meta.helm.sh/release-namespace"
	managedByLabel       = "app.kubernetes.io/managed-by"
)

// helmOwner names the Helm release that owns a live object, or "" when
// Helm does not own it. A Helm release annotation says so; the
// managed-by: Helm label alone does too, unless cutover already applies
// the object (`helm template | cutover deploy -f -` keeps the label, and
// its objects are cutover's).
func helmOwner(live *unstructured.Unstructured, fieldManager string) string {
	if live == nil {
		return ""
	}
	if name := live.GetAnnotations()[helmReleaseName]; name != "" {
		ns := live.GetAnnotations()[helmReleaseNamespace]
		if ns == "" {
			ns = live.GetNamespace()
		}
		return fmt.Sprintf("release %q in namespace %q", name, ns)
	}
	if live.GetLabels()[managedByLabel] != "Helm" {
		return ""
	}
	for _, f := range live.GetManagedFields() {
		if f.Manager == fieldManager {
			return ""
		}
	}
	return "a Helm release (label " + managedByLabel + ": Helm)"
}

// refuseHelmOwned refuses an object a Helm release owns, unless
// TakeOwnership.
func (a *Applier) refuseHelmOwned(it *Item) error {
	owner := helmOwner(it.Before, a.opts.FieldManager)
	if owner == "" || a.opts.TakeOwnership {
		return nil
	}
	return it.locate("metadata", fmt.Errorf("owned by Helm %s: cutover and helm upgrade would fight over it; uninstall it from Helm "+
		"(helm uninstall --keep-history, or the helm.sh/resource-policy: keep annotation), or %w",
		owner, hint.New(hint.TakeOwnership, "have cutover take ownership of it")))
}
