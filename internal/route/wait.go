package route

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
)

// Wait watches HTTPRoute ns/name until its status accepts generation gen
// (see Accepted), and returns the route as accepted. When ctx ends first,
// the error says what the status said last.
func Wait(ctx context.Context, dyn dynamic.Interface, ns, name string, gen int64) (*unstructured.Unstructured, error) {
	r := dyn.Resource(HTTPRoutes).Namespace(ns)
	last := Acceptance{Reason: "not read yet"}
	for {
		u, err := r.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read httproute %s/%s: %w", ns, name, err)
		}
		if last = Accepted(u, gen); last.Accepted {
			return u, nil
		}
		if err := nextChange(ctx, dyn, ns, name, u.GetResourceVersion()); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("httproute %s/%s: generation %d not confirmed: %s: %w", ns, name, gen, last.Reason, context.Cause(ctx))
			}
			return nil, err
		}
	}
}

// nextChange returns at the route's first change after resourceVersion
// rv, or when its watch ends.
func nextChange(ctx context.Context, dyn dynamic.Interface, ns, name, rv string) error {
	w, err := dyn.Resource(HTTPRoutes).Namespace(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watch httproute %s/%s: %w", ns, name, err)
	}
	defer w.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case _, ok := <-w.ResultChan():
		if !ok && ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}
}

// ErrNoRoute is the error of a route the files do not hold.
var ErrNoRoute = errors.New("no such HTTPRoute among the files")
