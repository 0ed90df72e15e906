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

	"github.com/cutover/cutover/internal/hint"
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
	// Setting, if set, turns off what the run does with it; Why then
	// ends with words that say so, which the error hints at Setting.
	Setting hint.Setting
}

func (n Need) String() string {
	r := n.Resource.String()
	if n.Subresource != "" {
		r += "/" + n.Subresource
	}
	return n.Verb + " " + r
}

// Check asks the API server about every need with a fresh Checker.
func Check(ctx context.Context, c kubernetes.Interface, needs []Need) error {
	return NewChecker(c).Check(ctx, needs)
}

// Checker checks needs for one run, reading each namespace's rules once
// however many checks the run makes.
type Checker struct {
	c     kubernetes.Interface
	mu    sync.Mutex
	rules map[string][]authv1.ResourceRule // by namespace
}

// NewChecker returns a Checker that asks through c.
func NewChecker(c kubernetes.Interface) *Checker {
	return &Checker{c: c, rules: map[string][]authv1.ResourceRule{}}
}

// Check asks the API server about every need and returns an error
// wrapping ErrDenied that lists every missing one. It reads the rules of
// each namespace once (SelfSubjectRulesReview) and asks about single needs
// (SelfSubjectAccessReview) only where the rules cannot tell: a
// cluster-scoped need, or an authorizer that does not list its rules. If
// the server cannot answer such reviews, Check returns nil: the run then
// finds out as it goes, as it would without Check.
func (k *Checker) Check(ctx context.Context, needs []Need) error {
	needs = dedupe(needs)
	allowed, err := k.byRules(ctx, needs)
	if err != nil {
		return nil //nolint:nilerr // cannot review: the run finds out as it goes
	}
	var missing []any
	for i, n := range needs {
		if allowed[i] {
			continue
		}
		denied, err := deniedNeed(ctx, k.c, n)
		switch {
		case err != nil && unanswerable(err):
			return nil
		case err != nil:
			return fmt.Errorf("check permissions: %w", err)
		case denied:
			missing = append(missing, describe(n))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	format := "%w: forbidden: cannot " + strings.Repeat("%w; cannot ", len(missing)-1) + "%w"
	return fmt.Errorf(format, append([]any{ErrDenied}, missing...)...)
}

// byRules reports, for each need, whether its namespace's rules allow it.
// false means "not known to be allowed", to be asked about singly.
func (k *Checker) byRules(ctx context.Context, needs []Need) ([]bool, error) {
	out := make([]bool, len(needs))
	for i, n := range needs {
		if n.Namespace == "" {
			continue
		}
		rules, err := k.rulesOf(ctx, n.Namespace)
		if err != nil {
			return nil, err
		}
		out[i] = slices.ContainsFunc(rules, func(r authv1.ResourceRule) bool { return covers(r, n) })
	}
	return out, nil
}

// rulesOf returns what the run may do in namespace ns, asking once.
func (k *Checker) rulesOf(ctx context.Context, ns string) ([]authv1.ResourceRule, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if rules, ok := k.rules[ns]; ok {
		return rules, nil
	}
	review := &authv1.SelfSubjectRulesReview{Spec: authv1.SelfSubjectRulesReviewSpec{Namespace: ns}}
	got, err := k.c.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	k.rules[ns] = got.Status.ResourceRules
	return got.Status.ResourceRules, nil
}

// covers reports whether rule allows need (wildcards included).
func covers(rule authv1.ResourceRule, n Need) bool {
	resource := n.Resource.Resource
	if n.Subresource != "" {
		resource += "/" + n.Subresource
	}
	return matches(rule.Verbs, n.Verb) && matches(rule.APIGroups, n.Resource.Group) &&
		matches(rule.Resources, resource) && len(rule.ResourceNames) == 0
}

func matches(list []string, v string) bool {
	return slices.Contains(list, v) || slices.Contains(list, "*")
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

// describe words a missing permission as the API server words a refusal,
// hinting at the need's Setting.
func describe(n Need) error {
	r := n.Resource.Resource
	if n.Subresource != "" {
		r += "/" + n.Subresource
	}
	s := fmt.Sprintf("%s resource %q in API group %q", n.Verb, r, n.Resource.Group)
	if n.Namespace != "" {
		s += " in the namespace " + n.Namespace
	}
	switch {
	case n.Why == "":
		return errors.New(s)
	case n.Setting == "":
		return fmt.Errorf("%s (%s)", s, n.Why)
	}
	return fmt.Errorf("%s (%w)", s, hint.New(n.Setting, n.Why))
}

// dedupe keeps one need per permission: the first, unless a later one is
// needed whatever the settings, whose reason then stands.
func dedupe(needs []Need) []Need {
	seen := map[Need]int{} // index in out
	out := make([]Need, 0, len(needs))
	for _, n := range needs {
		key := n
		key.Why, key.Setting = "", ""
		i, ok := seen[key]
		switch {
		case !ok:
			seen[key] = len(out)
			out = append(out, n)
		case out[i].Setting != "" && n.Setting == "":
			out[i] = n
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
