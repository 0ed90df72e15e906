package testbed_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// backendService serves name's answers from a server on the gateway's
// backend address, as a
// Service without a selector whose EndpointSlice names that server: the
// gateway reaches it where the slice says, as it would a pod.
func backendService(t *testing.T, gw *testbed.Gateway, ns, name string) {
	t.Helper()
	l, err := net.Listen("tcp", gw.BackendIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, name) })}}
	srv.Start()
	t.Cleanup(srv.Close)
	_, portText, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(port)}}}}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{gw.BackendIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(port))}},
	}
	if _, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// setWeights applies route web, splitting between stable and canary, and
// returns its generation.
func setWeights(t *testing.T, dyn dynamic.Interface, ns, gateway string, stable, canary int) int64 {
	t.Helper()
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "web", "namespace": ns},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": gateway}},
			"rules": []any{map[string]any{"backendRefs": []any{
				map[string]any{"name": "stable", "port": int64(80), "weight": int64(stable)},
				map[string]any{"name": "canary", "port": int64(80), "weight": int64(canary)},
			}}},
		},
	}}
	body, err := route.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := dyn.Resource(httpRoutes).Namespace(ns).Patch(context.Background(), "web", types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: "test", Force: ptr.To(true)})
	if err != nil {
		t.Fatal(err)
	}
	return got.GetGeneration()
}

// waitAccepted waits until the route's parent says it accepted generation
// gen and resolved its backends.
func waitAccepted(t *testing.T, dyn dynamic.Interface, ns string, gen int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := dyn.Resource(httpRoutes).Namespace(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		parents, _, _ := unstructured.NestedSlice(got.Object, "status", "parents")
		if len(parents) == 1 && parentAccepted(parents[0], gen) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("route web: generation %d not accepted with its backends resolved: %v", gen, parents)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func parentAccepted(parent any, gen int64) bool {
	conds, _, _ := unstructured.NestedSlice(parent.(map[string]any), "conditions")
	ok := map[string]bool{}
	for _, c := range conds {
		m := c.(map[string]any)
		g, _ := m["observedGeneration"].(int64)
		ok[fmt.Sprint(m["type"])] = m["status"] == "True" && g >= gen
	}
	return ok["Accepted"] && ok["ResolvedRefs"]
}

// answers sends n requests through the gateway and counts the answers.
func answers(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out[fmt.Sprintf("%d %s", resp.StatusCode, body)]++
	}
	return out
}

// TestGatewaySplitsByWeight runs the test bed's Traefik with a route
// between two backends: it splits requests by the route's weights, and a
// weight of zero takes a backend out. Traefik writes the route's status
// when it computes a configuration, before it runs it: the test measures
// how long after the status the gateway answers by it.
func TestGatewaySplitsByWeight(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	gw := cluster.RequireGateway(t, ns)
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	backendService(t, gw, ns, "stable")
	backendService(t, gw, ns, "canary")
	t.Cleanup(func() {
		if t.Failed() {
			dumpGateway(t, dyn, gw, ns)
		}
	})

	waitAccepted(t, dyn, ns, setWeights(t, dyn, ns, gw.Name, 80, 20))
	t.Logf("80/20 ran %s after the route's status accepted it", untilAnswers(t, gw.URL+"/", "200 canary"))
	got := answers(t, gw.URL+"/", 200)
	if got["200 canary"] < 30 || got["200 canary"] > 50 || got["200 stable"]+got["200 canary"] != 200 {
		t.Errorf("at 80/20 the gateway answered %v, want about 40 of 200 from canary and no error", got)
	}
	waitAccepted(t, dyn, ns, setWeights(t, dyn, ns, gw.Name, 100, 0))
	start := time.Now()
	for got := answers(t, gw.URL+"/", 20); got["200 stable"] != 20; got = answers(t, gw.URL+"/", 20) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("10 s after the status accepted 100/0 the gateway still answered %v", got)
		}
	}
	t.Logf("100/0 ran within %s after the route's status accepted it", time.Since(start).Round(time.Millisecond))
	if got := answers(t, gw.URL+"/", 50); got["200 stable"] != 50 {
		t.Errorf("at 100/0 the gateway answered %v, want stable only", got)
	}
	assertServed(t, gw, 1)
	waitAccepted(t, dyn, ns, setWeights(t, dyn, ns, gw.Name, 50, 50))
	untilAnswers(t, gw.URL+"/", "200 canary")
	assertServed(t, gw, 2)

	// Killed and started again, Traefik reads the route anew and serves it.
	if err := gw.Restart(context.Background(), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Logf("after the restart, the route ran again in %s", untilAnswers(t, gw.URL+"/", "200 stable"))
	untilAnswers(t, gw.URL+"/", "200 canary")
	assertServed(t, gw, 2)
}

// assertServed checks that Traefik runs the route to n addresses: the
// backends of non-zero weight.
func assertServed(t *testing.T, gw *testbed.Gateway, n int) {
	t.Helper()
	served, err := gw.Served(context.Background())
	if err != nil || len(served) != n {
		t.Errorf("traefik serves %v (%v), want %d addresses", served, err, n)
	}
}

// untilAnswers sends requests until one gets want, and says how long it
// took (at most 10 s).
func untilAnswers(t *testing.T, url, want string) time.Duration {
	t.Helper()
	start := time.Now()
	for answers(t, url, 1)[want] == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no answer %q within 10 s", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start).Round(time.Millisecond)
}

// dumpGateway logs the route's and the gateway's status and what Traefik
// runs.
func dumpGateway(t *testing.T, dyn dynamic.Interface, gw *testbed.Gateway, ns string) {
	for _, r := range []schema.GroupVersionResource{httpRoutes, {Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}} {
		list, _ := dyn.Resource(r).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		for _, o := range list.Items {
			st, _, _ := unstructured.NestedMap(o.Object, "status")
			t.Logf("%s %s status: %v", o.GetKind(), o.GetName(), st)
		}
	}
	if resp, err := http.Get(gw.AdminURL + "/api/rawdata"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("traefik runs: %s", body)
	}
}
