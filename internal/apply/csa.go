package apply

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/cutover/cutover/internal/event"
)

// clientSideApply is the field manager of `kubectl apply` without
// --server-side.
const clientSideApply = "kubectl-client-side-apply"

// migratesClientSideApply reports whether the live object has fields
// client-side apply set, which cutover migrates (when it takes over from
// that manager at all) before its first server-side apply, as
// `kubectl apply --server-side` does: then the files are the whole truth,
// and what kubectl applied that they no longer set goes away.
func (a *Applier) migratesClientSideApply(live *unstructured.Unstructured) bool {
	if live == nil || !slices.Contains(a.takeOver(), clientSideApply) {
		return false
	}
	for _, f := range live.GetManagedFields() {
		if f.Manager == clientSideApply && f.Operation == metav1.ManagedFieldsOperationUpdate {
			return true
		}
	}
	return false
}

// migrateClientSideApply moves the client-side-apply manager's fields to
// cutover's (k8s.io/client-go/util/csaupgrade), on the object as it is
// now.
func (a *Applier) migrateClientSideApply(ctx context.Context, it *Item) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := a.resource(it).Get(ctx, it.Name(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", it.Ref(), err)
		}
		patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, sets.New(clientSideApply), a.opts.FieldManager)
		if err != nil || patch == nil {
			return err
		}
		_, err = a.resource(it).Patch(ctx, it.Name(), types.JSONPatchType, patch, metav1.PatchOptions{})
		return err
	})
}

// reportMigration says, in the plan, that the item's client-side-apply
// fields move to cutover and which of them the files no longer set (the
// apply then removes them): those client-side apply owned, minus what the
// dry run shows cutover applying or anyone else owning.
func (a *Applier) reportMigration(it *Item) {
	if !a.migratesClientSideApply(it.Before) {
		return
	}
	isCSA := func(f metav1.ManagedFieldsEntry) bool {
		return f.Manager == clientSideApply && f.Operation == metav1.ManagedFieldsOperationUpdate
	}
	csa, _ := fieldSets(it.Before.GetManagedFields(), isCSA)
	_, kept := fieldSets(it.Planned.GetManagedFields(), isCSA) // cutover's apply and every other owner
	paths := goneLeaves(csa.Difference(kept), kept)
	msg := "moves the fields kubectl apply (client-side) set to cutover's field manager, as kubectl apply --server-side does"
	if len(paths) > 0 {
		msg += fmt.Sprintf("; %d of them the files do not set, and the apply removes them (the API server sets defaulted ones to "+
			"their defaults again): %s", len(paths), strings.Join(paths, ", "))
	}
	event.Stamp(a.opts.Sink, event.Event{Type: event.Warning, Stage: a.opts.Stage, Object: it.Ref(), Status: "take over", Message: msg})
}

// fieldSets returns the union of the field sets of the entries pick
// selects, and of the others. An entry that does not decode is left out.
func fieldSets(entries []metav1.ManagedFieldsEntry, pick func(metav1.ManagedFieldsEntry) bool) (picked, others *fieldpath.Set) {
	picked, others = &fieldpath.Set{}, &fieldpath.Set{}
	for _, f := range entries {
		if f.FieldsV1 == nil {
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(strings.NewReader(string(f.FieldsV1.Raw))); err != nil {
			continue
		}
		if pick(f) {
			picked = picked.Union(s)
		} else {
			others = others.Union(s)
		}
	}
	return picked, others
}

// goneLeaves lists the leaves of gone that are fields of their own: not a
// map or list node whose members someone still owns (kept).
func goneLeaves(gone, kept *fieldpath.Set) []string {
	var owned []string
	kept.Leaves().Iterate(func(p fieldpath.Path) { owned = append(owned, p.String()) })
	var out []string
	gone.Leaves().Iterate(func(p fieldpath.Path) {
		s := p.String()
		if !slices.ContainsFunc(owned, func(o string) bool { return strings.HasPrefix(o, s+".") || strings.HasPrefix(o, s+"[") }) {
			out = append(out, s)
		}
	})
	slices.Sort(out)
	return out
}
