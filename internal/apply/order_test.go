package apply

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestGroupFor(t *testing.T) {
	cases := []struct {
		gk   schema.GroupKind
		want int
	}{
		{schema.GroupKind{Kind: "Namespace"}, groupFoundation},
		{schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, groupFoundation},
		{schema.GroupKind{Kind: "ServiceAccount"}, groupConfig},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}, groupConfig},
		{schema.GroupKind{Kind: "Secret"}, groupConfig},
		{schema.GroupKind{Kind: "ConfigMap"}, groupConfig},
		{schema.GroupKind{Kind: "Service"}, groupNetwork},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, groupWorkload},
		{schema.GroupKind{Group: "example.com", Kind: "Widget"}, groupWorkload},
		// A kind named like a core kind in another group is not that kind.
		{schema.GroupKind{Group: "example.com", Kind: "Service"}, groupWorkload},
	}
	for _, tc := range cases {
		if got := groupFor(tc.gk); got != tc.want {
			t.Errorf("groupFor(%v) = %d, want %d", tc.gk, got, tc.want)
		}
	}
}
