package dataplane_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var cluster *testbed.Cluster

func TestMain(m *testing.M) { os.Exit(testbed.Run(m, &cluster)) }

// startDataPlane starts a data plane on ns, closed when the test ends; its
// debug log shows with -v or when the test fails.
func startDataPlane(t *testing.T, ns string) *dataplane.DataPlane {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	dp, err := dataplane.Start(ctx, dataplane.Options{Config: cluster.Config, Namespace: ns, Logger: log, MaxGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Close)
	return dp
}

// route routes the Service's port 80.
func route(t *testing.T, dp *dataplane.DataPlane, ns, service string) *dataplane.Router {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := dp.Route(ctx, ns, service, intstr.FromInt32(80))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

type app struct {
	name, image string
	replicas    int32
	annotations map[string]string
	behavior    testbed.PodBehavior
	grace       int64
	// rollout is the Deployment's rolling update; default maxSurge 1,
	// maxUnavailable 0.
	rollout *appsv1.RollingUpdateDeployment
}

func (a app) podTemplate() corev1.PodTemplateSpec {
	ann := a.behavior.Annotations()
	for k, v := range a.annotations {
		ann[k] = v
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": a.name}, Annotations: ann},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "app", Image: a.image}},
			TerminationGracePeriodSeconds: ptr.To(max(a.grace, 2)),
		},
	}
}

// createDeployment creates a Deployment that by default rolls out one pod
// at a time without ever lowering capacity, and a Service "<name>" on port
// 80 for it.
func createDeployment(t *testing.T, ns string, a app) {
	t.Helper()
	rollout := a.rollout
	if rollout == nil {
		rollout = &appsv1.RollingUpdateDeployment{
			MaxSurge:       ptr.To(intstr.FromInt32(1)),
			MaxUnavailable: ptr.To(intstr.FromInt32(0)),
		}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: a.name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(a.replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": a.name}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: rollout},
			Template: a.podTemplate(),
		},
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createService(t, ns, a.name)
}

func createService(t *testing.T, ns, name string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitRollout watches the Deployment until its generation gen is fully
// rolled out: every replica updated and available, no old one left.
func waitRollout(t *testing.T, ns, name string, gen int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lw := cache.NewListWatchFromClient(cluster.Client.AppsV1().RESTClient(), "deployments", ns, fields.OneTermEqualSelector("metadata.name", name))
	_, err := watchtools.UntilWithSync(ctx, lw, &appsv1.Deployment{}, nil, func(e watch.Event) (bool, error) {
		d, ok := e.Object.(*appsv1.Deployment)
		if !ok {
			return false, nil
		}
		want := *d.Spec.Replicas
		s := d.Status
		return d.Generation >= gen && s.ObservedGeneration >= gen &&
			s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want, nil
	})
	if err != nil {
		t.Fatalf("deployment %s/%s generation %d not rolled out: %v", ns, name, gen, err)
	}
}

// waitSlices watches the Service's EndpointSlices until cond holds.
func waitSlices(t *testing.T, ns, service string, cond func([]discoveryv1.Endpoint) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lw := cache.NewFilteredListWatchFromClient(cluster.Client.DiscoveryV1().RESTClient(), "endpointslices", ns,
		func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName + "=" + service })
	// The precondition judges the listed state; later states are judged
	// from the events (the precondition alone would never look again).
	seen := map[string]*discoveryv1.EndpointSlice{}
	_, err := watchtools.UntilWithSync(ctx, lw, &discoveryv1.EndpointSlice{}, func(s cache.Store) (bool, error) {
		for _, o := range s.List() {
			es := o.(*discoveryv1.EndpointSlice)
			seen[es.Name] = es
		}
		return cond(endpointsIn(seen)), nil
	}, func(e watch.Event) (bool, error) {
		es, ok := e.Object.(*discoveryv1.EndpointSlice)
		if !ok {
			return false, nil
		}
		if e.Type == watch.Deleted {
			delete(seen, es.Name)
		} else {
			seen[es.Name] = es
		}
		return cond(endpointsIn(seen)), nil
	})
	if err == nil {
		return
	}
	t.Fatalf("endpoint slices of %s/%s: %v", ns, service, err)
}

func endpointsIn(slices map[string]*discoveryv1.EndpointSlice) []discoveryv1.Endpoint {
	var out []discoveryv1.Endpoint
	for _, s := range slices {
		out = append(out, s.Endpoints...)
	}
	return out
}

// waitEndpoints waits until the router's endpoints satisfy cond.
func waitEndpoints(t *testing.T, r *dataplane.Router, what string, cond func([]dataplane.Endpoint) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitEndpoints(ctx, cond); err != nil {
		t.Fatalf("router endpoints %s: %v; now %+v", what, err, r.Endpoints())
	}
}

func readyCount(n int) func([]dataplane.Endpoint) bool {
	return func(eps []dataplane.Endpoint) bool {
		if len(eps) != n {
			return false
		}
		for _, e := range eps {
			if !e.Ready {
				return false
			}
		}
		return true
	}
}

// response is one answer, read in full.
type response struct {
	status int
	body   string
	pod    string
}

// get sends one request on a new connection.
func get(t *testing.T, url string) (response, error) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(body), pod: resp.Header.Get("X-Pod")}, err
}

func mustGet(t *testing.T, url string) response {
	t.Helper()
	r, err := get(t, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

// loadFor runs Load against url while the returned stop is not called.
func loadFor(url string, rate int) (stop func() *dataplane.LoadResult) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *dataplane.LoadResult, 1)
	go func() { done <- dataplane.Load(ctx, dataplane.LoadOptions{URL: url, Rate: rate}) }()
	return func() *dataplane.LoadResult {
		cancel()
		return <-done
	}
}
