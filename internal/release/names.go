package release

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels on the objects this package writes.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelApp       = "cutover.dev/app"
	labelRevision  = "cutover.dev/revision"
	labelObjectsOf = "cutover.dev/objects-of"
	managedBy      = "cutover"
)

// validateApp checks that app is a DNS label, so that it fits in object
// names and label values.
func validateApp(app string) error {
	if errs := validation.IsDNS1123Label(app); len(errs) > 0 {
		return fmt.Errorf("invalid app name %q: %s", app, strings.Join(errs, "; "))
	}
	return nil
}

func lockName(app string) string { return "cutover-lock-" + app }

func recordName(app string, revision int) string {
	return "cutover-" + app + "-r" + strconv.Itoa(revision)
}

// objectsName names the ConfigMap that holds the objects of the record
// called record. App names are DNS labels (63 characters at most), so
// with the suffix it stays far below the 253 a ConfigMap name may have.
func objectsName(record string) string { return record + "-objects" }

func appLabels(app string) map[string]string {
	return map[string]string{labelManagedBy: managedBy, labelApp: app}
}

// objectsLabels identify the objects ConfigMap of app's revision. They
// lack labelApp on purpose: appSelector, with which records are listed,
// must never match it, or every status, history and approval would carry
// the objects.
func objectsLabels(app string, revision int) map[string]string {
	return map[string]string{labelManagedBy: managedBy, labelObjectsOf: app, labelRevision: strconv.Itoa(revision)}
}

func appSelector(app string) string {
	return labelManagedBy + "=" + managedBy + "," + labelApp + "=" + app
}
