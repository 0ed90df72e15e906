package apply

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/manifest"
)

// Action is what applying an object does to the cluster.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// Item is one object on its way into the cluster.
type Item struct {
	Object    manifest.Object
	Mapping   *meta.RESTMapping // nil until its CRD is established when deferred
	Namespace string            // effective namespace; "" when cluster-scoped
	Group     int

	// Before is the live object before this run, nil if it did not exist.
	Before *unstructured.Unstructured
	// Planned is the server's dry-run result; Action compares it with Before.
	Planned *unstructured.Unstructured
	Action  Action
	// Applied is the object the server returned from the real apply.
	Applied *unstructured.Unstructured
	// TakenOver are the fields the apply takes (dry run) or took from
	// imperative managers (Options.TakeOver).
	TakenOver []TakenField

	// deferred items depend on a CRD or Namespace created in this run: they
	// are mapped and dry-run as soon as it exists, before they are written.
	deferred bool
}

// Kind returns the object's kind.
func (it *Item) Kind() string { return it.Object.GetKind() }

// Name returns the object's name.
func (it *Item) Name() string { return it.Object.GetName() }

// Ref names the object for people: Kind/name or Kind/namespace/name.
func (it *Item) Ref() string {
	if it.Namespace == "" {
		return fmt.Sprintf("%s/%s", it.Kind(), it.Name())
	}
	return fmt.Sprintf("%s/%s/%s", it.Kind(), it.Namespace, it.Name())
}

// locate wraps err with the object's source, naming field if known.
func (it *Item) locate(field string, err error) error {
	s := it.Object.Source
	return &manifest.Error{File: s.File, Doc: s.Doc, Line: s.Line, Field: field,
		Err: fmt.Errorf("%s: %w", it.Ref(), err)}
}
