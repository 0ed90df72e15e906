// Package apply writes objects with server-side apply: mapped through
// discovery so any kind works, ordered (Namespaces and CRDs, then
// configuration, Services, workloads), validated by a server-side dry run of
// every object before the first write, and applied with bounded parallelism.
package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cutover/cutover/internal/apiversions"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
)

// ErrInvalid marks input that the cluster refused in the dry run, or that
// cannot be mapped: bad input, nothing was written.
var ErrInvalid = errors.New("invalid")

// ErrForbidden wraps the server's refusal of a request for want of a
// permission.
var ErrForbidden = errors.New("no permission")

// Options configure the applier.
type Options struct {
	FieldManager string // default "cutover"
	Force        bool   // take over fields owned by other managers (--force-conflicts)
	// TakeOver are the managers whose fields a conflicting apply takes
	// without --force-conflicts; nil is DefaultTakeOver, empty none.
	TakeOver []string
	// TakeOwnership applies objects a Helm release owns (--take-ownership,
	// as Helm 4 names it); without it they are refused.
	TakeOwnership bool
	// ReplicasFrom names, for a Deployment an HPA scales, the Deployment
	// whose live replicas it takes (blue/green: the active color's); nil
	// or "" is the Deployment itself.
	ReplicasFrom func(name string) string
	Parallelism  int // concurrent requests within a group; default 16
	Sink         event.Sink
	Stage        string // stage name put on events
}

// Applier applies objects to one cluster.
type Applier struct {
	c    *kube.Clients
	opts Options
}

// New returns an Applier.
func New(c *kube.Clients, opts Options) *Applier {
	if opts.FieldManager == "" {
		opts.FieldManager = "cutover"
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 16
	}
	if opts.Sink == nil {
		opts.Sink = event.Discard
	}
	return &Applier{c: c, opts: opts}
}

// Plan maps every object, fetches its live state and dry-runs it on the
// server. It writes nothing. An error wrapping ErrInvalid is bad input.
func (a *Applier) Plan(ctx context.Context, objs []manifest.Object) ([]*Item, error) {
	items, err := a.resolve(objs)
	if err != nil {
		return nil, err
	}
	if err := a.keepScaledReplicas(ctx, a.c.Namespace, items); err != nil {
		return nil, err
	}
	if err := a.each(ctx, items, func(ctx context.Context, it *Item) error {
		if it.deferred {
			return nil
		}
		return a.dryRun(ctx, it)
	}); err != nil {
		return nil, err
	}
	return items, nil
}

// resolve maps each object to its resource and effective namespace.
func (a *Applier) resolve(objs []manifest.Object) ([]*Item, error) {
	crds := definedKinds(objs)
	newNamespaces := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "" {
			newNamespaces[o.GetName()] = true
		}
	}
	items := make([]*Item, 0, len(objs))
	var errs []error
	for _, o := range objs {
		it := &Item{Object: o, Group: groupFor(o.GroupVersionKind().GroupKind())}
		if o.GetName() == "" {
			s := o.Source
			errs = append(errs, &manifest.Error{File: s.File, Doc: s.Doc, Line: s.Line, Field: "metadata.name",
				Err: fmt.Errorf("%s with generateName %q: required: server-side apply needs a name (generateName is not supported)",
					o.GetKind(), o.GetGenerateName())})
			continue
		}
		if advice := apiversions.MissingSelector(o.Unstructured); advice != "" {
			errs = append(errs, it.locate("spec.selector", errors.New(advice))) // known before any request
			continue
		}
		if err := a.mapItem(it, crds); err != nil {
			var de *discoveryError
			if errors.As(err, &de) {
				return nil, de // the same for every object: the cluster, not the input
			}
			errs = append(errs, err)
			continue
		}
		if it.Namespace != "" && newNamespaces[it.Namespace] {
			it.deferred = true
		}
		items = append(items, it)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return items, nil
}

func (a *Applier) mapItem(it *Item, crds map[schema.GroupKind]bool) error {
	gvk := it.Object.GroupVersionKind()
	m, err := a.c.Mapping(gvk)
	switch {
	case meta.IsNoMatchError(err) && crds[gvk.GroupKind()]:
		it.deferred = true
		it.Namespace = it.Object.GetNamespace() // scope known once the CRD exists
		return nil
	case meta.IsNoMatchError(err):
		return a.noKind(it, gvk)
	case err != nil:
		return &discoveryError{err: err}
	}
	it.Mapping = m
	return a.setNamespace(it)
}

// noKind explains a kind the cluster does not serve, naming the field to
// fix: apiVersion when the kind exists in other versions, or when the group
// or version is not served at all (often a CRD not installed); kind when
// the group version is served but has no such kind (a typo in kind).
func (a *Applier) noKind(it *Item, gvk schema.GroupVersionKind) error {
	if r, ok := apiversions.Lookup(gvk); ok {
		return it.locate("apiVersion", r.Explain(it.Object.Unstructured))
	}
	msg := fmt.Sprintf("the cluster has no kind %q in %q", gvk.Kind, gvk.GroupVersion())
	if ms, err := a.c.Mapper.RESTMappings(gvk.GroupKind()); err == nil && len(ms) > 0 {
		var served []string
		for _, m := range ms {
			if v := m.GroupVersionKind.GroupVersion().String(); !slices.Contains(served, v) {
				served = append(served, v)
			}
		}
		return it.locate("apiVersion", fmt.Errorf("%s; it serves %s as %s", msg, gvk.Kind, strings.Join(served, ", ")))
	}
	var groups *metav1.APIGroupList
	err := errors.New("no typed client")
	if a.c.Typed != nil {
		groups, err = a.c.Typed.Discovery().ServerGroups()
	}
	switch {
	case err == nil && servesVersion(groups, gvk.GroupVersion()):
		return it.locate("kind", errors.New(msg))
	case gvk.Group != "":
		msg += " (is its CustomResourceDefinition installed?)"
	}
	return it.locate("apiVersion", errors.New(msg))
}

func servesVersion(groups *metav1.APIGroupList, gv schema.GroupVersion) bool {
	for _, g := range groups.Groups {
		if g.Name != gv.Group {
			continue
		}
		for _, v := range g.Versions {
			if v.Version == gv.Version {
				return true
			}
		}
	}
	return false
}

// discoveryError is a failure to ask the cluster which kinds it serves: an
// unreachable cluster or refused credentials, the same for every object.
type discoveryError struct{ err error }

func (e *discoveryError) Error() string {
	switch {
	case apierrors.IsUnauthorized(e.err):
		return "the cluster refused the kubeconfig's credentials (401 Unauthorized): " + e.err.Error()
	case apierrors.IsForbidden(e.err):
		return "the cluster forbids reading its API discovery (403 Forbidden): " + e.err.Error()
	}
	return "cannot reach the cluster to discover its kinds: " + e.err.Error()
}

func (e *discoveryError) Unwrap() error { return e.err }

// setNamespace applies kubectl's rules: the default namespace fills in, a
// different namespace under an explicit -n is an error, and cluster-scoped
// objects have none.
func (a *Applier) setNamespace(it *Item) error {
	if it.Mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		it.Namespace = ""
		return nil
	}
	ns := it.Object.GetNamespace()
	switch {
	case ns == "":
		ns = a.c.Namespace
	case ns != a.c.Namespace && a.c.ExplicitNamespace:
		return it.locate("metadata.namespace",
			fmt.Errorf("namespace %q does not match the namespace %q given with -n", ns, a.c.Namespace))
	}
	it.Namespace = ns
	it.Object.SetNamespace(ns)
	return nil
}

// definedKinds returns the kinds that CRDs in objs define.
func definedKinds(objs []manifest.Object) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructuredString(o.Object, "spec", "group")
		kind, _, _ := unstructuredString(o.Object, "spec", "names", "kind")
		out[schema.GroupKind{Group: group, Kind: kind}] = true
	}
	return out
}

// each runs fn for every item with bounded parallelism, returning all errors.
func (a *Applier) each(ctx context.Context, items []*Item, fn func(context.Context, *Item) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opts.Parallelism)
	errs := make([]error, len(items))
	for i, it := range items {
		g.Go(func() error {
			errs[i] = fn(ctx, it)
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// FieldManager is the field manager the applier writes as.
func (a *Applier) FieldManager() string { return a.opts.FieldManager }
