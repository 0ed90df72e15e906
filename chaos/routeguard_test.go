package chaos

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
)

// TestRouteGuardCatchesWeightWithoutEndpoints shows the gateway
// scenarios' route guard failing: a route generation that gives weight to
// a Service without a ready endpoint (as a tool that wrote the canary's
// weight before its pods were ready would) is a WeightedReady violation;
// the next generation, that gives it none, is not.
func TestRouteGuardCatchesWeightWithoutEndpoints(t *testing.T) {
	ns := cluster.Namespace(t)
	cluster.RequireGateway(t, ns) // the Gateway API's CRDs
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: canaryService}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "no-pod"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	guard := (&gatewayBed{dyn: dyn}).guardRoute(ctx, ns)
	routes := dyn.Resource(httpRoutes).Namespace(ns)
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": routeName},
		"spec": map[string]any{"rules": []any{map[string]any{"backendRefs": []any{
			map[string]any{"name": canaryService, "port": int64(80), "weight": int64(10)}}}}},
	}}
	created, err := routes.Create(ctx, route, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs := []any{map[string]any{"name": canaryService, "port": int64(80), "weight": int64(0)}}
	if err := unstructured.SetNestedSlice(created.Object, []any{map[string]any{"backendRefs": refs}}, "spec", "rules"); err != nil {
		t.Fatal(err)
	}
	if _, err := routes.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for guard.checkedSoFar() < 2 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	violations, checked := guard.result()
	if checked < 2 || len(violations) != 1 || !strings.Contains(violations[0].Detail, "generation 1 gives Service "+canaryService+" weight 10") {
		t.Errorf("the guard checked %d generations and found %v; want one violation, of generation 1", checked, violations)
	}
}
