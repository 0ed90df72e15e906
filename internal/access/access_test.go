package access

import (
	"testing"

	authv1 "k8s.io/api/authorization/v1"
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
