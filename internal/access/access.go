// Package access checks, before the first write, that the identity cutover
// runs as may do everything the run will need. A server-side dry run proves
// the writes; it cannot prove the reads and watches that come after them
// (waiting for a rollout, for endpoints) or the lock and the records. Without
// this check a missing "watch" shows up only after production changed, as a
// wait that never ends.
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

// ErrDenied is wrapped by Check when a permission is missing.
var ErrDenied = errors.New("no permission")

// Need is one permission a run needs.
type Need struct {
	Verb        string
	Resource    schema.GroupResource
	Subresource string
	Namespace   string // "" for cluster-scoped resources
	Why         string // what the run does with it, for the error
}

func (n Need) String() string {
	r := n.Resource.String()
	if n.Subresource != "" {
		r += "/" + n.Subresource
	}
	return n.Verb + " " + r
}

// Check asks the API server (SelfSubjectAccessReview) about every need at
// once and returns an error wrapping ErrDenied that lists every missing
// one. If the server cannot answer such reviews, Check returns nil: the
// run then finds out as it goes, as it would without Check.
func Check(ctx context.Context, c kubernetes.Interface, needs []Need) error {
	needs = dedupe(needs)
	denied := make([]bool, len(needs))
	errs := make([]error, len(needs))
	var wg sync.WaitGroup
	for i, n := range needs {
		wg.Go(func() { denied[i], errs[i] = deniedNeed(ctx, c, n) })
	}
	wg.Wait()
	var missing []string
	for i, n := range needs {
		switch {
		case errs[i] != nil && unanswerable(errs[i]):
			return nil
		case errs[i] != nil:
			return fmt.Errorf("check permissions: %w", errs[i])
		case denied[i]:
			missing = append(missing, describe(n))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: forbidden: cannot %s", ErrDenied, strings.Join(missing, "; cannot "))
}

func deniedNeed(ctx context.Context, c kubernetes.Interface, n Need) (bool, error) {
	review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authv1.ResourceAttributes{Namespace: n.Namespace, Verb: n.Verb,
			Group: n.Resource.Group, Resource: n.Resource.Resource, Subresource: n.Subresource},
	}}
	got, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return !got.Status.Allowed, nil
}

// unanswerable reports a server that does not serve reviews to us.
func unanswerable(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err)
}

// describe words a missing permission as the API server words a refusal.
func describe(n Need) string {
	r := n.Resource.Resource
	if n.Subresource != "" {
		r += "/" + n.Subresource
	}
	s := fmt.Sprintf("%s resource %q in API group %q", n.Verb, r, n.Resource.Group)
	if n.Namespace != "" {
		s += " in the namespace " + n.Namespace
	}
	if n.Why != "" {
		s += " (" + n.Why + ")"
	}
	return s
}

func dedupe(needs []Need) []Need {
	seen := map[Need]bool{}
	out := make([]Need, 0, len(needs))
	for _, n := range needs {
		key := n
		key.Why = ""
		if !seen[key] {
			seen[key] = true
			out = append(out, n)
		}
	}
	return slices.Clip(out)
}

// Common resources.
var (
	Pods           = schema.GroupResource{Resource: "pods"}
	ReplicaSets    = schema.GroupResource{Group: "apps", Resource: "replicasets"}
	Deployments    = schema.GroupResource{Group: "apps", Resource: "deployments"}
	Services       = schema.GroupResource{Resource: "services"}
	ConfigMaps     = schema.GroupResource{Resource: "configmaps"}
	Leases         = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	EndpointSlices = schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}
)

// Verbs returns one need per verb.
func Verbs(ns string, r schema.GroupResource, why string, verbs ...string) []Need {
	out := make([]Need, 0, len(verbs))
	for _, v := range verbs {
		out = append(out, Need{Verb: v, Resource: r, Namespace: ns, Why: why})
	}
	return out
}
