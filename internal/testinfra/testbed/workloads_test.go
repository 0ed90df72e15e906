package testbed_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

func TestDeploymentBecomesAvailable(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	ctx := context.Background()
	d := deployment(deployOpts{name: "web", image: "tomcat:7", replicas: 3, maxSurge: 1})
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, 30*time.Second, cache.NewListWatchFromClient(cluster.Client.AppsV1().RESTClient(), "deployments", ns, fieldName("web")),
		&appsv1.Deployment{}, func(s cache.Store) bool {
			for _, o := range s.List() {
				d := o.(*appsv1.Deployment)
				c := deploymentCondition(d, appsv1.DeploymentAvailable)
				return c != nil && c.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 3
			}
			return false
		})
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for i := range pods.Items {
		if podReady(&pods.Items[i]) && pods.Items[i].Status.PodIP != "" && pods.Items[i].Spec.NodeName != "" {
			ready++
		}
	}
	if ready != 3 || len(pods.Items) != 3 {
		t.Fatalf("want 3 scheduled Ready pods, got %d ready of %d", ready, len(pods.Items))
	}
}

// TestRollingUpdateNeverDropsCapacity updates v1 to v2 with maxSurge 1 and
// maxUnavailable 0 and watches the ReplicaSets and pods throughout: the ready
// count never falls below 3 and the old ReplicaSet ends at 0.
func TestRollingUpdateNeverDropsCapacity(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	ctx := context.Background()
	opts := deployOpts{name: "web", image: "tomcat:7", replicas: 3, maxSurge: 1,
		behavior: testbed.PodBehavior{ReadyAfter: 300 * time.Millisecond}}
	deployments := cluster.Client.AppsV1().Deployments(ns)
	if _, err := deployments.Create(ctx, deployment(opts), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, ns, "web", 1)

	rsMin, podMin := trackMinimumReady(t, ns)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]any{{"name": "app", "image": "tomcat:8"}}}}}})
	if _, err := deployments.Patch(ctx, "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, ns, "web", 2)
	if got := rsMin(); got < 3 {
		t.Errorf("ReplicaSets' ready replicas fell to %d during the rollout, want >= 3", got)
	}
	if got := podMin(); got < 3 {
		t.Errorf("ready pods fell to %d during the rollout, want >= 3", got)
	}
	sets, err := cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sets.Items) != 2 {
		t.Fatalf("want 2 ReplicaSets, got %d", len(sets.Items))
	}
	for _, rs := range sets.Items {
		image := rs.Spec.Template.Spec.Containers[0].Image
		if image == "tomcat:7" && (*rs.Spec.Replicas != 0 || rs.Status.Replicas != 0) {
			t.Errorf("old ReplicaSet %s: spec %d, status %d replicas; want 0", rs.Name, *rs.Spec.Replicas, rs.Status.Replicas)
		}
	}
}

// trackMinimumReady watches ReplicaSets and pods of ns until the test ends and
// returns functions giving the lowest total of ready replicas (ReplicaSet
// status) and of Ready pods seen since the call.
func trackMinimumReady(t *testing.T, ns string) (rsMin, podMin func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	track := func(lw *cache.ListWatch, count func(runtime.Object) int) func() int {
		w := newMinWatch(t, ctx, lw, count)
		wg.Add(1)
		go func() { defer wg.Done(); w.run() }()
		return w.lowest
	}
	rsMin = track(cache.NewListWatchFromClient(cluster.Client.AppsV1().RESTClient(), "replicasets", ns, fields.Everything()),
		func(o runtime.Object) int { return int(o.(*appsv1.ReplicaSet).Status.ReadyReplicas) })
	podMin = track(cache.NewListWatchFromClient(cluster.Client.CoreV1().RESTClient(), "pods", ns, fields.Everything()),
		func(o runtime.Object) int {
			if podReady(o.(*corev1.Pod)) {
				return 1
			}
			return 0
		})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return rsMin, podMin
}

// minWatch sums count over the live objects after every watch event, starting
// from a consistent list, and keeps the lowest sum.
type minWatch struct {
	w     watch.Interface
	count func(runtime.Object) int
	live  map[types.UID]int
	mu    sync.Mutex
	low   int
}

func newMinWatch(t *testing.T, ctx context.Context, lw *cache.ListWatch, count func(runtime.Object) int) *minWatch {
	t.Helper()
	list, err := lw.ListWithContext(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := &minWatch{count: count, live: map[types.UID]int{}}
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range items {
		m.live[o.(metav1.Object).GetUID()] = count(o)
	}
	m.low = m.sum()
	rv, _ := meta.NewAccessor().ResourceVersion(list)
	if m.w, err = lw.WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: rv}); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *minWatch) run() {
	for ev := range m.w.ResultChan() {
		obj, ok := ev.Object.(metav1.Object)
		if !ok {
			continue
		}
		if ev.Type == watch.Deleted {
			delete(m.live, obj.GetUID())
		} else {
			m.live[obj.GetUID()] = m.count(ev.Object)
		}
		m.mu.Lock()
		m.low = min(m.low, m.sum())
		m.mu.Unlock()
	}
}

func (m *minWatch) sum() int {
	n := 0
	for _, v := range m.live {
		n += v
	}
	return n
}

func (m *minWatch) lowest() int { m.mu.Lock(); defer m.mu.Unlock(); return m.low }

// waitComplete waits for kubectl rollout status semantics at the given
// revision: generation observed, all replicas updated and available, none old.
func waitComplete(t *testing.T, ns, name string, revision int) {
	t.Helper()
	until(t, 60*time.Second, cache.NewListWatchFromClient(cluster.Client.AppsV1().RESTClient(), "deployments", ns, fieldName(name)),
		&appsv1.Deployment{}, func(s cache.Store) bool {
			for _, o := range s.List() {
				d := o.(*appsv1.Deployment)
				want := *d.Spec.Replicas
				return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
					d.Status.Replicas == want && d.Status.AvailableReplicas == want &&
					d.Annotations["deployment.kubernetes.io/revision"] == itoa(revision)
			}
			return false
		})
}

// TestEndpointSlicesFollowReadyPodsAndSelector checks that a Service's
// EndpointSlices hold as ready only the Ready pods its selector matches, and
// follow a selector change from blue to green.
func TestEndpointSlicesFollowReadyPodsAndSelector(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	ctx := context.Background()
	create := func(o deployOpts) {
		if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, deployment(o), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(deployOpts{name: "blue", image: "tomcat:7", replicas: 3, maxSurge: 1, labels: map[string]string{"svc": "web", "role": "blue"}})
	create(deployOpts{name: "blue-stuck", image: "tomcat:7", replicas: 1, maxSurge: 1,
		labels: map[string]string{"svc": "web", "role": "blue"}, behavior: testbed.PodBehavior{Behavior: testbed.NeverReady}})
	create(deployOpts{name: "green", image: "tomcat:8", replicas: 2, maxSurge: 1, labels: map[string]string{"svc": "web", "role": "green"}})
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"svc": "web", "role": "blue"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, ns, "blue", 1)
	waitComplete(t, ns, "green", 1)
	waitEndpoints(t, ns, "web", readyPodIPs(t, ns, "role=blue"), 1)

	patch := []byte(`{"spec":{"selector":{"role":"green"}}}`)
	if _, err := cluster.Client.CoreV1().Services(ns).Patch(ctx, "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, ns, "web", readyPodIPs(t, ns, "role=green"), 0)
}

func readyPodIPs(t *testing.T, ns, selector string) []string {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for i := range pods.Items {
		if podReady(&pods.Items[i]) {
			ips = append(ips, pods.Items[i].Status.PodIP)
		}
	}
	slices.Sort(ips)
	return ips
}

// waitEndpoints waits until the Service's EndpointSlices list exactly want as
// ready endpoints, plus notReady endpoints that are not ready.
func waitEndpoints(t *testing.T, ns, service string, want []string, notReady int) {
	t.Helper()
	lw := cache.NewFilteredListWatchFromClient(cluster.Client.DiscoveryV1().RESTClient(), "endpointslices", ns,
		func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName + "=" + service })
	if len(want) == 0 {
		t.Fatal("no ready pods to compare endpoints with")
	}
	var ready []string
	var unready int
	until(t, 30*time.Second, lw, &discoveryv1.EndpointSlice{}, func(s cache.Store) bool {
		ready, unready = nil, 0
		for _, o := range s.List() {
			for _, e := range o.(*discoveryv1.EndpointSlice).Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready = append(ready, e.Addresses...)
				} else {
					unready++
				}
			}
		}
		slices.Sort(ready)
		return slices.Equal(ready, want) && unready == notReady
	})
}

func TestNeverReadyReleaseExceedsProgressDeadline(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	d := deployment(deployOpts{name: "stuck", image: "tomcat:9", replicas: 2, maxSurge: 1, progressSeconds: 2,
		behavior: testbed.PodBehavior{Behavior: testbed.NeverReady}})
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, 30*time.Second, cache.NewListWatchFromClient(cluster.Client.AppsV1().RESTClient(), "deployments", ns, fieldName("stuck")),
		&appsv1.Deployment{}, func(s cache.Store) bool {
			for _, o := range s.List() {
				c := deploymentCondition(o.(*appsv1.Deployment), appsv1.DeploymentProgressing)
				return c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded"
			}
			return false
		})
	got, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "stuck", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.AvailableReplicas != 0 {
		t.Errorf("a never-ready release has %d available replicas", got.Status.AvailableReplicas)
	}
}
