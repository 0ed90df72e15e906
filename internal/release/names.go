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

func appLabels(app string) map[string]string {
	return map[string]string{labelManagedBy: managedBy, labelApp: app}
}

func appSelector(app string) string {
	return labelManagedBy + "=" + managedBy + "," + labelApp + "=" + app
}
