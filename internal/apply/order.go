package apply

import "k8s.io/apimachinery/pkg/runtime/schema"

// Groups are applied in order; objects within a group in parallel.
const (
	groupFoundation = iota // Namespaces and CRDs: everything else may live in them
	groupConfig            // identities, RBAC, configuration and storage that pods refer to
	groupNetwork           // Services, so that endpoints exist when pods become ready
	groupWorkload          // workloads and everything else, custom resources included
	groupCount
)

var groupOf = map[schema.GroupKind]int{
	{Kind: "Namespace"}: groupFoundation,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: groupFoundation,

	{Kind: "ServiceAccount"}:                                         groupConfig,
	{Kind: "ConfigMap"}:                                              groupConfig,
	{Kind: "Secret"}:                                                 groupConfig,
	{Kind: "LimitRange"}:                                             groupConfig,
	{Kind: "ResourceQuota"}:                                          groupConfig,
	{Kind: "PersistentVolume"}:                                       groupConfig,
	{Kind: "PersistentVolumeClaim"}:                                  groupConfig,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:               groupConfig,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        groupConfig,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        groupConfig,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: groupConfig,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                  groupConfig,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:              groupConfig,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:              groupConfig,

	{Kind: "Service"}: groupNetwork,
}

// groupFor returns the ordering group of a kind.
func groupFor(gk schema.GroupKind) int {
	if g, ok := groupOf[gk]; ok {
		return g
	}
	return groupWorkload
}
