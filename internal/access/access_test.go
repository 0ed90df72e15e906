package access

import (
	"context"
	"errors"
	"strings"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
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
