package access

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cutover/cutover/internal/hint"
)

func TestCovers(t *testing.T) {
	need := Need{Verb: "watch", Resource: Deployments, Namespace: "prod"}
	proxy := Need{Verb: "get", Resource: Services, Subresource: "proxy", Namespace: "prod"}
	cases := []struct {
		name string
		rule authv1.ResourceRule
		n    Need
		want bool
	}{
		{"exact", authv1.ResourceRule{Verbs: []string{"list", "watch"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}, need, true},
		{"other verb", authv1.ResourceRule{Verbs: []string{"list"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}, need, false},
		{"other group", authv1.ResourceRule{Verbs: []string{"watch"}, APIGroups: []string{""}, Resources: []string{"deployments"}}, need, false},
		{"wildcards", authv1.ResourceRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}, need, true},
		{"named objects only", authv1.ResourceRule{Verbs: []string{"watch"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"},
			ResourceNames: []string{"web"}}, need, false},
		{"subresource", authv1.ResourceRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"services/proxy"}}, proxy, true},
		{"resource without its subresource", authv1.ResourceRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"services"}}, proxy, false},
	}
	for _, c := range cases {
		if got := covers(c.rule, c.n); got != c.want {
			t.Errorf("%s: covers = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCheckerReadsRulesOnce: a run checks its permissions more than once
// (before its lock, then before Deploy's first write); each namespace's
// rules are asked for once, and what they allow and deny stays the same.
func TestCheckerReadsRulesOnce(t *testing.T) {
	c := fake.NewClientset()
	reviews := map[string]int{}
	c.PrependReactor("create", "selfsubjectrulesreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectRulesReview)
		reviews[review.Spec.Namespace]++
		review.Status.ResourceRules = []authv1.ResourceRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}
		return true, review, nil
	})
	c.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		return true, review, nil // not allowed
	})
	k := NewChecker(c)
	ctx := context.Background()
	for range 2 {
		if err := k.Check(ctx, Verbs("prod", ConfigMaps, "records", "get", "list")); err != nil {
			t.Fatalf("allowed needs: %v", err)
		}
		err := k.Check(ctx, Verbs("prod", ConfigMaps, "records", "delete"))
		if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), `delete resource "configmaps"`) {
			t.Fatalf("denied need: %v", err)
		}
	}
	if err := k.Check(ctx, Verbs("staging", ConfigMaps, "records", "get")); err != nil {
		t.Fatal(err)
	}
	if reviews["prod"] != 1 || reviews["staging"] != 1 {
		t.Errorf("rules reviews by namespace: %v, want one each", reviews)
	}
}

// TestCheckHintsSettings: a missing permission that a setting can drop is
// worded in the error as before and hints at that setting; the same
// permission needed whatever the settings hints at nothing.
func TestCheckHintsSettings(t *testing.T) {
	guarded := func(ns string) []Need {
		out := Verbs(ns, Services, "resync; not needed with the guard off", "patch")
		out[0].Setting = hint.EndpointGuard
		return out
	}
	plain := Verbs("prod", Services, "switch traffic", "patch")
	cases := []struct {
		name      string
		needs     []Need
		wantText  string
		wantHints []hint.Setting
	}{
		{"no reason", []Need{{Verb: "get", Resource: Pods, Namespace: "prod"}},
			`no permission: forbidden: cannot get resource "pods" in API group "" in the namespace prod`, nil},
		{"a reason", plain,
			`no permission: forbidden: cannot patch resource "services" in API group "" in the namespace prod (switch traffic)`, nil},
		{"a setting drops it", guarded("prod"),
			`no permission: forbidden: cannot patch resource "services" in API group "" in the namespace prod (resync; not needed with the guard off)`,
			[]hint.Setting{hint.EndpointGuard}},
		{"several", append(append(guarded("a"), Need{Verb: "get", Resource: Pods, Namespace: "b"}), guarded("c")...),
			`no permission: forbidden: cannot patch resource "services" in API group "" in the namespace a (resync; not needed with the guard off); ` +
				`cannot get resource "pods" in API group "" in the namespace b; ` +
				`cannot patch resource "services" in API group "" in the namespace c (resync; not needed with the guard off)`,
			[]hint.Setting{hint.EndpointGuard}},
		{"needed anyway, after", append(guarded("prod"), plain...),
			`no permission: forbidden: cannot patch resource "services" in API group "" in the namespace prod (switch traffic)`, nil},
		{"needed anyway, before", append(plain, guarded("prod")...),
			`no permission: forbidden: cannot patch resource "services" in API group "" in the namespace prod (switch traffic)`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(context.Background(), denyAll(), c.needs)
			if !errors.Is(err, ErrDenied) {
				t.Fatalf("Check = %v, want ErrDenied", err)
			}
			if got := err.Error(); got != c.wantText {
				t.Errorf("text\n got %q\nwant %q", got, c.wantText)
			}
			if got := hint.Settings(err); !slices.Equal(got, c.wantHints) {
				t.Errorf("hints %q, want %q", got, c.wantHints)
			}
		})
	}
}

// denyAll is a cluster whose rules allow nothing and whose access reviews
// deny everything.
func denyAll() *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("create", "selfsubjectrulesreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, a.(k8stesting.CreateAction).GetObject(), nil
	})
	c.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, a.(k8stesting.CreateAction).GetObject(), nil
	})
	return c
}
