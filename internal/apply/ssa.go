package apply

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/cutover/cutover/internal/hint"
)

func (a *Applier) resource(it *Item) dynamic.ResourceInterface {
	r := a.c.Dynamic.Resource(it.Mapping.Resource)
	if it.Namespace != "" {
		return r.Namespace(it.Namespace)
	}
	return r
}

// dryRun fetches the live object and, at the same time, asks the server
// what applying it would give, with strict field validation.
func (a *Applier) dryRun(ctx context.Context, it *Item) error {
	type got struct {
		obj *unstructured.Unstructured
		err error
	}
	live := make(chan got, 1)
	go func() {
		obj, err := a.resource(it).Get(ctx, it.Name(), metav1.GetOptions{})
		live <- got{obj, err}
	}()
	planned, perr := a.patch(ctx, it, []string{metav1.DryRunAll}, a.opts.Force)
	if taken, ok := a.takeable(perr); ok {
		it.TakenOver = taken
		planned, perr = a.patch(ctx, it, []string{metav1.DryRunAll}, true)
	}
	before := <-live
	switch {
	case apierrors.IsNotFound(before.err):
		before.obj = nil
	case before.err != nil:
		return fmt.Errorf("get %s: %w", it.Ref(), before.err)
	}
	it.Before = before.obj
	if err := a.refuseHelmOwned(it); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err) // before its field conflicts with Helm's manager
	}
	if perr != nil {
		return a.explain(it, perr)
	}
	it.Planned = planned
	a.reportMigration(it)
	it.Action = actionOf(before.obj, planned)
	a.reportTakeOver(it, true)
	return nil
}

// write applies the object for real. A conflict with imperative managers
// only is judged again here, not taken from the dry run: it takes the
// fields as they are owned now.
func (a *Applier) write(ctx context.Context, it *Item) error {
	if a.migratesClientSideApply(it.Before) {
		if err := a.migrateClientSideApply(ctx, it); err != nil {
			return fmt.Errorf("apply %s: move kubectl apply's fields to %s: %w", it.Ref(), a.opts.FieldManager, err)
		}
	}
	applied, err := a.patch(ctx, it, nil, a.opts.Force)
	planned := it.TakenOver
	it.TakenOver = nil
	if taken, ok := a.takeable(err); ok {
		it.TakenOver = taken
		applied, err = a.patch(ctx, it, nil, true)
	}
	if err != nil {
		return a.explain(it, err)
	}
	it.Applied = applied
	if !slices.Equal(planned, it.TakenOver) {
		a.reportTakeOver(it, false) // the plan said otherwise: someone changed the object since
	}
	return nil
}

func (a *Applier) patch(ctx context.Context, it *Item, dryRun []string, force bool) (*unstructured.Unstructured, error) {
	body, err := it.Object.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", it.Ref(), err)
	}
	return a.resource(it).Patch(ctx, it.Name(), types.ApplyPatchType, body, metav1.PatchOptions{
		FieldManager:    a.opts.FieldManager,
		Force:           &force,
		DryRun:          dryRun,
		FieldValidation: "Strict",
	})
}

// explain turns a refusal by the server into an error that names the object,
// its source and, where the server says, the field. Refusals of the input
// wrap ErrInvalid; transient server trouble does not.
func (a *Applier) explain(it *Item, err error) error {
	status, ok := err.(apierrors.APIStatus)
	if !ok || transient(err) {
		return fmt.Errorf("apply %s: %w", it.Ref(), err)
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w: %s: %w", ErrForbidden, it.Ref(), err)
	}
	details := status.Status().Details
	if apierrors.IsConflict(err) && details != nil && len(details.Causes) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, it.locate(details.Causes[0].Field, conflictError(details.Causes)))
	}
	msg, field := status.Status().Message, fieldOf(status.Status())
	if m := typedPatch.FindStringSubmatch(msg); m != nil {
		// "failed to create typed patch object (ns/name; apps/v1,
		// Kind=Deployment): .spec.replicas: expected numeric (int or
		// float), got string": the field and the reason are what matter.
		field, msg = m[1], m[2]
	}
	if schemaField.MatchString(msg) || msg == "field not declared in schema" {
		msg = "unknown field: not in the schema of " + it.Kind()
	}
	return fmt.Errorf("%w: %w", ErrInvalid, it.locate(field, errors.New(msg)))
}

// typedPatch finds the field and the reason in the server's refusal of an
// apply patch that does not fit the kind's schema (a value of the wrong
// type, an unknown field), which carries no structured cause.
var typedPatch = regexp.MustCompile(`^failed to create typed patch object \([^)]*\): (?:errors:\s*)?\.(\S+): ([^\n]+)`)

func transient(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err)
}

// schemaField finds the field in the server's "field not declared in schema"
// message, which carries no structured cause.
var schemaField = regexp.MustCompile(`\.(\S+): field not declared in schema`)

// fieldOf returns the field a refusal is about, if the server names one.
func fieldOf(s metav1.Status) string {
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			if c.Field != "" {
				return c.Field
			}
		}
	}
	if m := schemaField.FindStringSubmatch(s.Message); m != nil {
		return m[1]
	}
	return ""
}

// conflictError reports which fields other managers own.
func conflictError(causes []metav1.StatusCause) error {
	parts := make([]string, 0, len(causes))
	for _, c := range causes {
		parts = append(parts, fmt.Sprintf("%s (%s)", c.Field, c.Message))
	}
	return fmt.Errorf("field conflict: %s; %w", strings.Join(parts, ", "),
		hint.New(hint.ForceConflicts, "take these fields over by forcing the conflicts"))
}

// actionOf compares the live object with the dry-run result.
func actionOf(before, planned *unstructured.Unstructured) Action {
	if before == nil {
		return Created
	}
	b, p := before.DeepCopy(), planned.DeepCopy()
	for _, o := range []*unstructured.Unstructured{b, p} {
		o.SetResourceVersion("")
		o.SetManagedFields(nil)
	}
	if equality.Semantic.DeepEqual(b.Object, p.Object) {
		return Unchanged
	}
	return Configured
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	return unstructured.NestedString(obj, fields...)
}
