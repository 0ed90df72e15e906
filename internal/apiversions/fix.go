package apiversions

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// isWorkload reports whether kind runs pods from a template with a
// selector (apps/v1).
func isWorkload(kind string) bool {
	return slices.Contains([]string{"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"}, kind)
}

// IsAppsV1Workload reports whether obj is an apps/v1 Deployment,
// DaemonSet, StatefulSet or ReplicaSet.
func IsAppsV1Workload(obj *unstructured.Unstructured) bool {
	return obj.GetAPIVersion() == "apps/v1" && isWorkload(obj.GetKind())
}

func selectorMissing(obj map[string]any) bool {
	sel, found, _ := unstructured.NestedFieldNoCopy(obj, "spec", "selector")
	return !found || sel == nil
}

// MissingSelector says, for an apps/v1 workload without spec.selector,
// exactly what to add; "" when it has one.
func MissingSelector(obj *unstructured.Unstructured) string {
	if !IsAppsV1Workload(obj) || !selectorMissing(obj.Object) {
		return ""
	}
	return "required in apps/v1 (older versions defaulted it from the template's labels); " + SelectorAdvice(obj.Object)
}

// SelectorAdvice is the selector to add, from the template's labels.
func SelectorAdvice(obj map[string]any) string {
	labels := templateLabels(obj)
	if len(labels) == 0 {
		return "add labels to spec.template.metadata.labels and the same as spec.selector.matchLabels"
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("add, from the template's labels:\n  selector:\n    matchLabels:")
	for _, k := range keys {
		fmt.Fprintf(&b, "\n      %s: %s", k, quoteIfNeeded(labels[k]))
	}
	return b.String()
}

func templateLabels(obj map[string]any) map[string]string {
	l, _, _ := unstructured.NestedStringMap(obj, "spec", "template", "metadata", "labels")
	return l
}

// quoteIfNeeded quotes a label value YAML would read as something else
// than a string.
func quoteIfNeeded(v string) string {
	switch strings.ToLower(v) {
	case "", "true", "false", "yes", "no", "on", "off", "null", "~":
		return fmt.Sprintf("%q", v)
	}
	if strings.ContainsAny(v[:1], "0123456789-.${") || strings.ContainsAny(v, ": #") {
		return fmt.Sprintf("%q", v)
	}
	return v
}

// fixSelector adds spec.selector.matchLabels from the template's labels to
// a workload that has none.
func fixSelector(obj map[string]any) []string {
	labels := templateLabels(obj)
	if !selectorMissing(obj) || len(labels) == 0 {
		return nil
	}
	m := make(map[string]any, len(labels))
	for k, v := range labels {
		m[k] = v
	}
	_ = unstructured.SetNestedField(obj, map[string]any{"matchLabels": m}, "spec", "selector")
	return []string{"added spec.selector.matchLabels from spec.template.metadata.labels"}
}

// FixSelector adds the selector to an apps/v1 workload without one, and
// says so.
func FixSelector(obj *unstructured.Unstructured) []string {
	if !IsAppsV1Workload(obj) {
		return nil
	}
	return fixSelector(obj.Object)
}

// fixIngress moves an extensions/v1beta1 or networking.k8s.io/v1beta1
// Ingress's fields to networking.k8s.io/v1.
func fixIngress(obj map[string]any) []string {
	var out []string
	spec, _, _ := unstructured.NestedMap(obj, "spec")
	if spec == nil {
		return nil
	}
	if b, ok := spec["backend"].(map[string]any); ok {
		delete(spec, "backend")
		spec["defaultBackend"] = ingressBackend(b)
		out = append(out, "spec.backend -> spec.defaultBackend")
	}
	rules, _ := spec["rules"].([]any)
	paths := 0
	for _, r := range rules {
		rm, _ := r.(map[string]any)
		httpRule, _ := rm["http"].(map[string]any)
		ps, _ := httpRule["paths"].([]any)
		for _, p := range ps {
			pm, _ := p.(map[string]any)
			if b, ok := pm["backend"].(map[string]any); ok {
				pm["backend"] = ingressBackend(b)
			}
			if _, ok := pm["pathType"]; !ok {
				pm["pathType"] = "ImplementationSpecific"
			}
			paths++
		}
	}
	if paths > 0 {
		out = append(out, fmt.Sprintf("%d paths: backend serviceName/servicePort -> service.name/port, pathType ImplementationSpecific where unset", paths))
	}
	obj["spec"] = spec
	return out
}

func ingressBackend(b map[string]any) map[string]any {
	name, hasName := b["serviceName"]
	port, hasPort := b["servicePort"]
	if !hasName && !hasPort {
		return b
	}
	svc := map[string]any{"name": name}
	switch p := port.(type) {
	case string:
		svc["port"] = map[string]any{"name": p}
	default:
		svc["port"] = map[string]any{"number": p}
	}
	delete(b, "serviceName")
	delete(b, "servicePort")
	b["service"] = svc
	return b
}

// fixHPAv2beta1 moves autoscaling/v2beta1 metric targets into target.
func fixHPAv2beta1(obj map[string]any) []string {
	metrics, _, _ := unstructured.NestedSlice(obj, "spec", "metrics")
	n := 0
	for _, m := range metrics {
		mm, _ := m.(map[string]any)
		for _, src := range []string{"resource", "pods", "object", "external", "containerResource"} {
			s, ok := mm[src].(map[string]any)
			if ok && moveTarget(s) {
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	_ = unstructured.SetNestedSlice(obj, metrics, "spec", "metrics")
	return []string{fmt.Sprintf("%d metrics: targets moved into target (type Utilization, AverageValue or Value), metric names into metric", n)}
}

// moveTarget rewrites one v2beta1 metric source; it reports whether it
// changed anything.
func moveTarget(s map[string]any) bool {
	changed := false
	for old, typ := range map[string][2]string{
		"targetAverageUtilization": {"Utilization", "averageUtilization"},
		"targetAverageValue":       {"AverageValue", "averageValue"},
		"targetValue":              {"Value", "value"},
	} {
		if v, ok := s[old]; ok {
			delete(s, old)
			s["target"] = map[string]any{"type": typ[0], typ[1]: v}
			changed = true
		}
	}
	if name, ok := s["metricName"]; ok {
		metric := map[string]any{"name": name}
		if sel, ok := s["metricSelector"]; ok {
			metric["selector"] = sel
			delete(s, "metricSelector")
		}
		delete(s, "metricName")
		s["metric"] = metric
		changed = true
	}
	return changed
}
