package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/cutover/cutover/internal/event"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Apply writes planned items group by group. Items of a group go in
// parallel; CRDs are waited for until Established, and items that depended
// on a CRD or Namespace of this run are mapped and dry-run before any of
// them is written.
func (a *Applier) Apply(ctx context.Context, items []*Item) error {
	for g := range groupCount {
		group := inGroup(items, g)
		if err := a.prepareDeferred(ctx, group); err != nil {
			return err
		}
		if err := a.each(ctx, group, a.writeAndReport); err != nil {
			return err
		}
		if g == groupFoundation {
			if err := a.waitEstablished(ctx, group); err != nil {
				return err
			}
		}
	}
	return nil
}

func inGroup(items []*Item, g int) []*Item {
	var out []*Item
	for _, it := range items {
		if it.Group == g {
			out = append(out, it)
		}
	}
	return out
}

func (a *Applier) writeAndReport(ctx context.Context, it *Item) error {
	if err := a.write(ctx, it); err != nil {
		return err
	}
	event.Stamp(a.opts.Sink, event.Event{Type: event.ObjectApplied, Stage: a.opts.Stage, Object: it.Ref(), Action: string(it.Action)})
	return nil
}

// prepareDeferred maps and dry-runs the deferred items of a group.
func (a *Applier) prepareDeferred(ctx context.Context, group []*Item) error {
	var deferred []*Item
	for _, it := range group {
		if it.deferred {
			deferred = append(deferred, it)
		}
	}
	if len(deferred) == 0 {
		return nil
	}
	for _, it := range deferred {
		if it.Mapping != nil {
			continue
		}
		if err := a.mapItem(it, nil); err != nil {
			var de *discoveryError
			if errors.As(err, &de) {
				return de
			}
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return a.each(ctx, deferred, a.dryRun)
}

// waitEstablished watches each CRD among items until it is Established.
func (a *Applier) waitEstablished(ctx context.Context, items []*Item) error {
	for _, it := range items {
		if it.Object.GroupVersionKind().GroupKind() != (schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}) {
			continue
		}
		if err := a.waitCRD(ctx, it.Name()); err != nil {
			return fmt.Errorf("wait for CRD %s to be established: %w", it.Name(), err)
		}
	}
	a.c.Mapper.Reset()
	return nil
}

func (a *Applier) waitCRD(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	lw := a.c.ListWatch(crdResource, "", fields.OneTermEqualSelector("metadata.name", name).String())
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(e watch.Event) (bool, error) {
		u, ok := e.Object.(*unstructured.Unstructured)
		return ok && established(u), nil
	})
	return err
}

// established reads the CRD's Established condition.
func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Established" {
			return m["status"] == "True"
		}
	}
	return false
}
