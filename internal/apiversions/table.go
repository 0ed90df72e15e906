package apiversions

import "k8s.io/apimachinery/pkg/runtime/schema"

const (
	workloadSelector   = "spec.selector is required and must match spec.template.metadata.labels"
	deploymentDefaults = "defaults changed: spec.progressDeadlineSeconds 600, spec.revisionHistoryLimit 10, " +
		"maxSurge and maxUnavailable 25%; spec.rollbackTo is gone"
)

// table is the migration guide's removals of kinds a deployment applies.
var table = []Removal{
	// 1.16
	workload("extensions", "v1beta1", "Deployment", "1.16", deploymentDefaults),
	workload("apps", "v1beta1", "Deployment", "1.16", deploymentDefaults),
	workload("apps", "v1beta2", "Deployment", "1.16", deploymentDefaults),
	workload("extensions", "v1beta1", "DaemonSet", "1.16", "spec.templateGeneration is gone; updateStrategy defaults to RollingUpdate"),
	workload("apps", "v1beta2", "DaemonSet", "1.16", "updateStrategy defaults to RollingUpdate"),
	workload("apps", "v1beta1", "StatefulSet", "1.16", "updateStrategy defaults to RollingUpdate"),
	workload("apps", "v1beta2", "StatefulSet", "1.16", "updateStrategy defaults to RollingUpdate"),
	workload("extensions", "v1beta1", "ReplicaSet", "1.16"),
	workload("apps", "v1beta1", "ReplicaSet", "1.16"),
	workload("apps", "v1beta2", "ReplicaSet", "1.16"),
	moved("extensions", "v1beta1", "NetworkPolicy", "1.16", "networking.k8s.io/v1"),
	gone("extensions", "v1beta1", "PodSecurityPolicy", "1.16", "replaced by Pod Security Admission (policy/v1beta1 was removed in 1.25 too)"),
	// 1.22
	ingress("extensions", "v1beta1"),
	ingress("networking.k8s.io", "v1beta1"),
	moved("networking.k8s.io", "v1beta1", "IngressClass", "1.22", "networking.k8s.io/v1"),
	moved("apiextensions.k8s.io", "v1beta1", "CustomResourceDefinition", "1.22", "apiextensions.k8s.io/v1",
		"spec.versions[*].schema.openAPIV3Schema is required (spec.validation moves there)",
		"spec.scope is required; spec.preserveUnknownFields must be false"),
	moved("admissionregistration.k8s.io", "v1beta1", "ValidatingWebhookConfiguration", "1.22", "admissionregistration.k8s.io/v1",
		"webhooks[*].admissionReviewVersions and sideEffects are required"),
	moved("admissionregistration.k8s.io", "v1beta1", "MutatingWebhookConfiguration", "1.22", "admissionregistration.k8s.io/v1",
		"webhooks[*].admissionReviewVersions and sideEffects are required"),
	moved("rbac.authorization.k8s.io", "v1beta1", "Role", "1.22", "rbac.authorization.k8s.io/v1"),
	moved("rbac.authorization.k8s.io", "v1beta1", "ClusterRole", "1.22", "rbac.authorization.k8s.io/v1"),
	moved("rbac.authorization.k8s.io", "v1beta1", "RoleBinding", "1.22", "rbac.authorization.k8s.io/v1"),
	moved("rbac.authorization.k8s.io", "v1beta1", "ClusterRoleBinding", "1.22", "rbac.authorization.k8s.io/v1"),
	moved("scheduling.k8s.io", "v1beta1", "PriorityClass", "1.22", "scheduling.k8s.io/v1"),
	moved("coordination.k8s.io", "v1beta1", "Lease", "1.22", "coordination.k8s.io/v1"),
	moved("storage.k8s.io", "v1beta1", "StorageClass", "1.22", "storage.k8s.io/v1"),
	moved("storage.k8s.io", "v1beta1", "CSIDriver", "1.22", "storage.k8s.io/v1"),
	moved("apiregistration.k8s.io", "v1beta1", "APIService", "1.22", "apiregistration.k8s.io/v1"),
	// 1.25
	moved("batch", "v1beta1", "CronJob", "1.25", "batch/v1"),
	moved("policy", "v1beta1", "PodDisruptionBudget", "1.25", "policy/v1",
		"an empty spec.selector now selects every pod in the namespace (it selected none)"),
	gone("policy", "v1beta1", "PodSecurityPolicy", "1.25", "replaced by Pod Security Admission"),
	moved("discovery.k8s.io", "v1beta1", "EndpointSlice", "1.25", "discovery.k8s.io/v1",
		"endpoints[*].topology is replaced by nodeName and zone"),
	moved("events.k8s.io", "v1beta1", "Event", "1.25", "events.k8s.io/v1"),
	moved("node.k8s.io", "v1beta1", "RuntimeClass", "1.25", "node.k8s.io/v1"),
	hpa("v2beta1", "1.25"),
	// 1.26, 1.29, 1.32
	hpa("v2beta2", "1.26"),
	moved("flowcontrol.apiserver.k8s.io", "v1beta1", "FlowSchema", "1.26", "flowcontrol.apiserver.k8s.io/v1"),
	moved("flowcontrol.apiserver.k8s.io", "v1beta1", "PriorityLevelConfiguration", "1.26", "flowcontrol.apiserver.k8s.io/v1"),
	moved("storage.k8s.io", "v1beta1", "CSIStorageCapacity", "1.27", "storage.k8s.io/v1"),
	moved("flowcontrol.apiserver.k8s.io", "v1beta2", "FlowSchema", "1.29", "flowcontrol.apiserver.k8s.io/v1"),
	moved("flowcontrol.apiserver.k8s.io", "v1beta2", "PriorityLevelConfiguration", "1.29", "flowcontrol.apiserver.k8s.io/v1"),
	moved("flowcontrol.apiserver.k8s.io", "v1beta3", "FlowSchema", "1.32", "flowcontrol.apiserver.k8s.io/v1"),
	moved("flowcontrol.apiserver.k8s.io", "v1beta3", "PriorityLevelConfiguration", "1.32", "flowcontrol.apiserver.k8s.io/v1"),
}

func gvk(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

func moved(group, version, kind, removedIn, to string, changes ...string) Removal {
	return Removal{From: gvk(group, version, kind), RemovedIn: removedIn, To: to, Changes: changes}
}

func gone(group, version, kind, removedIn, why string) Removal {
	return Removal{From: gvk(group, version, kind), RemovedIn: removedIn, Changes: []string{why}}
}

func workload(group, version, kind, removedIn string, changes ...string) Removal {
	r := moved(group, version, kind, removedIn, "apps/v1", append([]string{workloadSelector}, changes...)...)
	r.fix = fixSelector
	return r
}

func ingress(group, version string) Removal {
	r := moved(group, version, "Ingress", "1.22", "networking.k8s.io/v1",
		"spec.backend is renamed spec.defaultBackend",
		"a backend's serviceName and servicePort become service.name and service.port.number (or .name)",
		"every path needs a pathType (ImplementationSpecific keeps the old meaning)")
	r.fix = fixIngress
	return r
}

func hpa(version, removedIn string) Removal {
	r := moved("autoscaling", version, "HorizontalPodAutoscaler", removedIn, "autoscaling/v2")
	if version == "v2beta1" {
		r.Changes = []string{"a metric's targetAverageUtilization, targetAverageValue and targetValue move into target " +
			"(type Utilization, AverageValue or Value); metricName and metricSelector into metric.name and metric.selector"}
		r.fix = fixHPAv2beta1
	}
	return r
}
