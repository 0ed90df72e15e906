// Package apiversions knows the built-in Kubernetes API versions that were
// removed, what replaced them, and what changed in the move, from the
// Kubernetes deprecated API migration guide
// (kubernetes.io/docs/reference/using-api/deprecation-guide). Manifests
// written before 1.16, 1.22 or 1.25, such as the article's
// extensions/v1beta1 Deployments, meet a cluster that no longer serves
// them: cutover names the removal and the fix instead of guessing at a
// missing CRD, and `cutover render --fix-api` rewrites them.
package apiversions

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cutover/cutover/internal/hint"
)

// Removal is one kind at one removed group/version.
type Removal struct {
	From schema.GroupVersionKind
	// RemovedIn is the Kubernetes minor release that stopped serving it.
	RemovedIn string
	// To is the apiVersion to use instead; "" when nothing replaces it.
	To string
	// Changes are the field changes the guide lists for the move.
	Changes []string
	// fix rewrites an object's fields for To (the apiVersion is set
	// apart); it returns what it changed.
	fix func(obj map[string]any) []string
}

// Lookup returns the removal of a group/version/kind, if it is one.
func Lookup(gvk schema.GroupVersionKind) (Removal, bool) {
	for _, r := range table {
		if r.From == gvk {
			return r, true
		}
	}
	return Removal{}, false
}

// fixHint ends the explanation of a removal that has a replacement: Fix
// converts such objects.
var fixHint = hint.New(hint.FixAPI, "an API fix can convert the files, for review")

// Explain says what was removed, what replaces it and what to change, for
// obj (whose own labels make the selector advice exact), as an error to
// refuse obj with. Where obj can be converted it hints at hint.FixAPI.
func (r Removal) Explain(obj *unstructured.Unstructured) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s was removed in Kubernetes %s", r.From.GroupVersion(), r.From.Kind, r.RemovedIn)
	if r.To == "" {
		b.WriteString(", with no replacement")
	} else {
		fmt.Fprintf(&b, ": use apiVersion: %s", r.To)
	}
	changes := r.Changes
	if selectorMissing(obj.Object) && isWorkload(r.From.Kind) {
		changes = append([]string{SelectorAdvice(obj.Object)}, changes...)
	}
	if len(changes) > 0 {
		fmt.Fprintf(&b, "; in %s: %s", r.To, strings.Join(changes, "; "))
	}
	if r.To == "" {
		return errors.New(b.String())
	}
	return fmt.Errorf("%s; %w", b.String(), fixHint)
}

// Fix converts obj to its removal's replacement, if it has one, and
// returns what it changed; nothing for an object that is not removed.
func Fix(obj *unstructured.Unstructured) []string {
	r, ok := Lookup(obj.GroupVersionKind())
	if !ok || r.To == "" {
		return nil
	}
	out := []string{fmt.Sprintf("apiVersion %s -> %s", obj.GetAPIVersion(), r.To)}
	obj.SetAPIVersion(r.To)
	if r.fix != nil {
		out = append(out, r.fix(obj.Object)...)
	}
	return out
}
