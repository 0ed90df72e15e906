package strategy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/manifest"
)

// Managed mode: the files hold an ordinary Deployment and Service, and
// cutover derives the colors from them. For a Deployment NAME and a
// production Service SVC, with selector key KEY and color C:
//
//   - Deployment NAME-C: a copy of NAME whose spec.selector.matchLabels and
//     pod template labels also carry KEY=C. NAME itself is never applied
//     (and never patched: a selector is immutable);
//   - Service SVC-test-C: a ClusterIP copy of SVC selecting KEY=C, the
//     color's test endpoint;
//   - Service SVC: the production Service, whose selector cutover owns: it
//     is created selecting KEY=C on a first deploy and only switched after.
//
// Every other object is applied as written, shared by both colors.

// ManagedOptions say how to derive one color's objects.
type ManagedOptions struct {
	Service, SelectorKey, Color string
}

// ManagedObjects derives color's objects from the files' objects.
func ManagedObjects(objs []manifest.Object, o ManagedOptions) ([]manifest.Object, error) {
	var out []manifest.Object
	found := false
	for _, obj := range objs {
		switch {
		case isDeployment(obj):
			d, err := coloredDeployment(obj, o)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		case isService(obj) && obj.GetName() == o.Service:
			found = true
			prod, test, err := coloredServices(obj, o)
			if err != nil {
				return nil, err
			}
			out = append(out, prod, test)
		default:
			out = append(out, obj)
		}
	}
	if !found {
		return nil, fmt.Errorf("managed mode: the files hold no Service %q (the production Service)", o.Service)
	}
	return out, nil
}

func isDeployment(o manifest.Object) bool {
	return o.GetKind() == "Deployment" && o.GroupVersionKind().Group == "apps"
}

func isService(o manifest.Object) bool {
	return o.GetKind() == "Service" && o.GroupVersionKind().Group == ""
}

func coloredDeployment(obj manifest.Object, o ManagedOptions) (manifest.Object, error) {
	c := copyObject(obj)
	c.SetName(obj.GetName() + "-" + o.Color)
	addLabel(c.Unstructured, o, "metadata", "labels")
	for _, path := range [][]string{{"spec", "selector", "matchLabels"}, {"spec", "template", "metadata", "labels"}} {
		if err := setLabel(c.Unstructured, o, path...); err != nil {
			return c, fmt.Errorf("managed mode: %s: %w", obj.Source, err)
		}
	}
	return c, nil
}

func coloredServices(obj manifest.Object, o ManagedOptions) (prod, test manifest.Object, err error) {
	prod = copyObject(obj)
	if err := setLabel(prod.Unstructured, o, "spec", "selector"); err != nil {
		return prod, test, fmt.Errorf("managed mode: %s: %w", obj.Source, err)
	}
	test = copyObject(prod)
	test.SetName(o.Service + "-test-" + o.Color)
	clusterIPOnly(test.Unstructured)
	return prod, test, nil
}

// clusterIPOnly makes a copied Service a ClusterIP one of its own: no
// addresses, load balancer or node ports of the Service it copies.
func clusterIPOnly(u *unstructured.Unstructured) {
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	for _, f := range []string{"clusterIP", "clusterIPs", "externalTrafficPolicy", "loadBalancerIP", "loadBalancerSourceRanges",
		"loadBalancerClass", "healthCheckNodePort", "externalIPs", "allocateLoadBalancerNodePorts"} {
		delete(spec, f)
	}
	spec["type"] = "ClusterIP"
	ports, _, _ := unstructured.NestedSlice(spec, "ports")
	for _, p := range ports {
		if m, ok := p.(map[string]any); ok {
			delete(m, "nodePort")
		}
	}
	if ports != nil {
		spec["ports"] = ports
	}
	_ = unstructured.SetNestedMap(u.Object, spec, "spec")
}

func copyObject(o manifest.Object) manifest.Object {
	return manifest.Object{Unstructured: o.DeepCopy(), Source: o.Source}
}

// setLabel sets KEY=C in the string map at path, which must exist.
func setLabel(u *unstructured.Unstructured, o ManagedOptions, path ...string) error {
	m, found, err := unstructured.NestedStringMap(u.Object, path...)
	if err != nil || !found || len(m) == 0 {
		return fmt.Errorf("%s %s: want a non-empty label map", u.GetKind(), joinPath(path))
	}
	if v, ok := m[o.SelectorKey]; ok && v != o.Color {
		return fmt.Errorf("%s %s already sets %s=%s; in managed mode cutover owns that key", u.GetKind(), joinPath(path), o.SelectorKey, v)
	}
	m[o.SelectorKey] = o.Color
	return unstructured.SetNestedStringMap(u.Object, m, path...)
}

func addLabel(u *unstructured.Unstructured, o ManagedOptions, path ...string) {
	m, _, _ := unstructured.NestedStringMap(u.Object, path...)
	if m == nil {
		m = map[string]string{}
	}
	m[o.SelectorKey] = o.Color
	_ = unstructured.SetNestedStringMap(u.Object, m, path...)
}

func joinPath(p []string) string {
	s := ""
	for _, x := range p {
		s += "." + x
	}
	return s
}
