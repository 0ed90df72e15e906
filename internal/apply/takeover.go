package apply

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cutover/cutover/internal/event"
)

// DefaultTakeOver are the field managers whose fields cutover takes over
// when its apply conflicts with them: people and scripts that changed the
// object by hand, never a controller. An unnamed client (Go-http-client)
// is left out on purpose: it can be a controller.
//
//   - kubectl-client-side-apply: `kubectl apply` without --server-side, the
//     article's own bootstrap; kubectl apply --server-side migrates these
//     fields too (k8s.io/client-go/util/csaupgrade);
//   - kubectl-edit, -patch, -create, -set, -scale, -label, -annotate,
//     -rollout: kubectl's imperative commands;
//   - fabric8-kubernetes-client: the Jenkins Kubernetes Continuous Deploy
//     plugin's client (fabric8io/kubernetes-client, whose Config sets the
//     User-Agent "fabric8-kubernetes-client/VERSION"); the API server names
//     a manager that gave none by its User-Agent up to the first "/"
//     (prefixFromUserAgent in k8s.io/apiserver/pkg/endpoints/handlers).
var DefaultTakeOver = []string{
	"kubectl-client-side-apply",
	"kubectl-edit", "kubectl-patch", "kubectl-create", "kubectl-set",
	"kubectl-scale", "kubectl-label", "kubectl-annotate", "kubectl-rollout",
	"fabric8-kubernetes-client",
}

// TakenField is a field cutover took over from another manager.
type TakenField struct {
	Field, Manager string
}

// conflictManager finds the manager in a conflict cause's message:
// `conflict with "kubectl-client-side-apply" using apps/v1`.
var conflictManager = regexp.MustCompile(`conflict with "([^"]+)"`)

// takeable returns the fields of an apply conflict when every one of them
// is owned by a manager cutover takes over from; false for any other
// error, or a conflict with any other manager.
func (a *Applier) takeable(err error) ([]TakenField, bool) {
	var status apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &status) {
		return nil, false
	}
	d := status.Status().Details
	if d == nil || len(d.Causes) == 0 {
		return nil, false
	}
	out := make([]TakenField, 0, len(d.Causes))
	for _, c := range d.Causes {
		m := conflictManager.FindStringSubmatch(c.Message)
		if m == nil || !slices.Contains(a.takeOver(), m[1]) {
			return nil, false
		}
		out = append(out, TakenField{Field: c.Field, Manager: m[1]})
	}
	return out, true
}

func (a *Applier) takeOver() []string {
	list := a.opts.TakeOver
	if list == nil {
		list = DefaultTakeOver
	}
	list = append(slices.Clone(list), ScaleManager(a.opts.FieldManager))
	if a.opts.TakeOwnership {
		list = append(slices.Clone(list), helmManager)
	}
	return list
}

// helmManager is the field manager of Helm's writes.
const helmManager = "helm"

// ScaleManager is the field manager of cutover's own scale writes between
// its applies (a canary's dynamic stable scale): the next apply of the
// files takes their fields back, and says nothing of it.
func ScaleManager(fieldManager string) string { return fieldManager + "-scale" }

// reportTakeOver says which fields the item takes (its plan, in every
// run's Validate) or took (a write that found other owners than its plan),
// from whom.
func (a *Applier) reportTakeOver(it *Item, dryRun bool) {
	taken := slices.DeleteFunc(slices.Clone(it.TakenOver), func(f TakenField) bool { return f.Manager == ScaleManager(a.opts.FieldManager) })
	if len(taken) == 0 {
		return
	}
	verb := "took over"
	if dryRun {
		verb = "takes over"
	}
	by := map[string][]string{}
	var managers []string
	for _, f := range taken {
		if by[f.Manager] == nil {
			managers = append(managers, f.Manager)
		}
		by[f.Manager] = append(by[f.Manager], f.Field)
	}
	parts := make([]string, 0, len(managers))
	for _, m := range managers {
		parts = append(parts, fmt.Sprintf("%s from %q", strings.Join(by[m], ", "), m))
	}
	event.Stamp(a.opts.Sink, event.Event{Type: event.Warning, Stage: a.opts.Stage, Object: it.Ref(), Status: "take over",
		Message: verb + " " + strings.Join(parts, "; ") + ": fields last set by hand (kubectl, the Jenkins plugin); cutover's field manager owns them from now on"})
}
