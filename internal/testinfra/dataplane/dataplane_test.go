package dataplane_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// TestRouterAnswersLikeTheApp sends requests through a Service to two pods
// and checks each answer, its status and that both pods answer in turn.
func TestRouterAnswersLikeTheApp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		image       string
		annotations map[string]string
		wantStatus  int
		wantBody    string
		namesPod    bool
	}{
		{name: "tomcat", image: "tomcat:7.0", wantStatus: 200, wantBody: "Apache Tomcat/7", namesPod: true},
		{name: "other image", image: "registry.example:5000/team/shop:2.1", wantStatus: 200,
			wantBody: "image: registry.example:5000/team/shop:2.1", namesPod: true},
		{name: "body annotation", image: "tomcat:8.0", annotations: map[string]string{dataplane.AnnotationHTTPBody: "down for maintenance"},
			wantStatus: 200, wantBody: "down for maintenance"},
		{name: "status annotation", image: "tomcat:8.0", annotations: map[string]string{dataplane.AnnotationHTTPStatus: "500"},
			wantStatus: 500, wantBody: "Apache Tomcat/8", namesPod: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			dp := startDataPlane(t, ns)
			createDeployment(t, ns, app{name: "web", image: tc.image, replicas: 2, annotations: tc.annotations})
			r := route(t, dp, ns, "web")
			waitEndpoints(t, r, "2 ready", readyCount(2))

			perPod := map[string]int{}
			for range 6 {
				got := mustGet(t, r.URL())
				if got.status != tc.wantStatus || !strings.Contains(got.body, tc.wantBody) {
					t.Fatalf("got %d %q, want %d and a body containing %q", got.status, got.body, tc.wantStatus, tc.wantBody)
				}
				if tc.namesPod && !strings.Contains(got.body, "pod: "+got.pod) {
					t.Errorf("body %q does not name pod %q", got.body, got.pod)
				}
				perPod[got.pod]++
			}
			if len(perPod) != 2 || perPod[r.Endpoints()[0].Pod] != 3 {
				t.Errorf("want round robin over 2 pods, 3 requests each, got %v", perPod)
			}
			outcomes := r.Outcomes()
			if len(outcomes) != 6 {
				t.Fatalf("router recorded %d outcomes, want 6: %+v", len(outcomes), outcomes)
			}
			for _, o := range outcomes {
				if o.Status != tc.wantStatus || o.Pod == "" || o.Err != "" || o.Failed() != (tc.wantStatus != 200) {
					t.Errorf("outcome %+v, want status %d from a pod", o, tc.wantStatus)
				}
			}
			if tc.wantStatus == 200 {
				return
			}
			stop := loadFor(r.URL(), 100)
			time.Sleep(300 * time.Millisecond)
			res := stop()
			t.Log(res)
			if res.Total == 0 || res.Failures != res.Total || len(res.FailureDetails) == 0 ||
				!strings.Contains(res.FailureDetails[0], "status 500") {
				t.Errorf("load against a failing app: want every request failed with status 500, got %s %q", res, res.FailureDetails)
			}
		})
	}
}

// TestRollingUpdate is the zero-downtime measuring stick: a rolling update
// from tomcat:7.0 to tomcat:8.0 under steady load answers with both versions
// while it runs and only with the new one once the old pods left the
// endpoints. With maxUnavailable 0 it fails no request; replacing every pod
// at once (maxSurge 0, maxUnavailable 100%) must show as failed requests, or
// the stick measures nothing.
func TestRollingUpdate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		rollout      *appsv1.RollingUpdateDeployment
		wantFailures bool
	}{
		{name: "maxUnavailable 0 drops no request"},
		{name: "all at once drops requests", wantFailures: true, rollout: &appsv1.RollingUpdateDeployment{
			MaxSurge: ptr.To(intstr.FromInt32(0)), MaxUnavailable: ptr.To(intstr.FromString("100%"))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, dp, r := rollingUpdate(t, tc.rollout)
			if failed := res.Failures > 0; failed != tc.wantFailures {
				t.Errorf("%d of %d requests failed during the rolling update, want failures %t; first: %q",
					res.Failures, res.Total, tc.wantFailures, res.FailureDetails)
				logTimeline(t, dp, r)
			}
			if tc.wantFailures && !strings.Contains(strings.Join(res.FailureDetails, "\n"), "status 503") {
				t.Errorf("want 503s while no pod was ready, got %q", res.FailureDetails)
			}
		})
	}
}

// rollingUpdate deploys tomcat:7.0, updates it to tomcat:8.0 under load at
// 200/s, checks the versions answering and returns the load's result.
func rollingUpdate(t *testing.T, rollout *appsv1.RollingUpdateDeployment) (*dataplane.LoadResult, *dataplane.DataPlane, *dataplane.Router) {
	t.Helper()
	ns := cluster.Namespace(t)
	dp := startDataPlane(t, ns)
	a := app{name: "web", image: "tomcat:7.0", replicas: 3, rollout: rollout,
		behavior: testbed.PodBehavior{ReadyAfter: 300 * time.Millisecond, ReadyAfterMax: 600 * time.Millisecond}}
	createDeployment(t, ns, a)
	waitRollout(t, ns, "web", 1)
	r := route(t, dp, ns, "web")
	waitEndpoints(t, r, "3 ready", readyCount(3))
	old := map[types.UID]bool{}
	for _, e := range r.Endpoints() {
		old[e.UID] = true
	}

	stop := loadFor(r.URL(), 200)
	time.Sleep(300 * time.Millisecond)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]any{{"name": "app", "image": "tomcat:8.0"}}}}}})
	if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(context.Background(), "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, ns, "web", 2)
	waitEndpoints(t, r, "3 new ready", func(eps []dataplane.Endpoint) bool {
		return readyCount(3)(eps) && !slices.ContainsFunc(eps, func(e dataplane.Endpoint) bool { return old[e.UID] })
	})
	switched := time.Now()
	time.Sleep(500 * time.Millisecond)
	res := stop()
	t.Log(res)

	if res.Versions["Tomcat/7"] == 0 || res.Versions["Tomcat/8"] == 0 || len(res.Versions) != 2 {
		t.Errorf("want answers from Tomcat/7 and Tomcat/8 only, got %v", res.Versions)
	}
	if last := res.LastSent["Tomcat/7"]; !last.Before(switched) {
		t.Errorf("Tomcat/7 answered a request sent at %s, after the old pods left the endpoints at %s",
			last.Format(time.StampMilli), switched.Format(time.StampMilli))
	}
	if n := len(r.Outcomes()); n != res.Total {
		t.Errorf("router saw %d requests, load sent %d", n, res.Total)
	}
	if res.Total < 200 {
		t.Errorf("only %d requests at 200/s: the load generator falls short", res.Total)
	}
	return res, dp, r
}

// logTimeline logs the router's endpoint changes, failed requests and
// backend lifetimes, to tell a router fault from a backend one.
func logTimeline(t *testing.T, dp *dataplane.DataPlane, r *dataplane.Router) {
	t.Helper()
	for _, c := range r.History() {
		t.Logf("%s endpoints %+v", c.Time.Format(time.StampMilli), c.Endpoints)
	}
	for _, o := range r.Outcomes() {
		if o.Failed() {
			t.Logf("%s failed %+v", o.Time.Format(time.StampMilli), o)
		}
	}
	for _, b := range dp.Backends() {
		t.Logf("backend %s %s started %s stopAt %s stopped %s", b.Pod, b.Image,
			b.Started.Format(time.StampMilli), b.StopAt.Format(time.StampMilli), b.StoppedAt.Format(time.StampMilli))
	}
}

// TestNoReadyEndpointAnswers503 routes to a Service whose only pod never
// becomes Ready: it gets no backend and every request gets 503.
func TestNoReadyEndpointAnswers503(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	dp := startDataPlane(t, ns)
	createDeployment(t, ns, app{name: "web", image: "tomcat:8.0", replicas: 1,
		behavior: testbed.PodBehavior{Behavior: testbed.NeverReady}})
	r := route(t, dp, ns, "web")
	waitSlices(t, ns, "web", func(eps []discoveryv1.Endpoint) bool {
		return len(eps) == 1 && eps[0].Conditions.Ready != nil && !*eps[0].Conditions.Ready
	})

	got := mustGet(t, r.URL())
	if got.status != http.StatusServiceUnavailable {
		t.Errorf("got %d %q, want 503", got.status, got.body)
	}
	stop := loadFor(r.URL(), 100)
	time.Sleep(200 * time.Millisecond)
	res := stop()
	if res.Total == 0 || res.Failures != res.Total || !strings.Contains(res.FailureDetails[0], "status 503") {
		t.Errorf("want every request failed with 503, got %s %q", res, res.FailureDetails)
	}
	for _, o := range r.Outcomes() {
		if o.Status != http.StatusServiceUnavailable || o.Pod != "" || o.Err == "" {
			t.Errorf("outcome %+v, want 503 with no pod", o)
		}
	}
	if b := dp.Backends(); len(b) != 0 {
		t.Errorf("a pod that never became Ready got a backend: %+v", b)
	}
}

// TestTerminatingPodServesUntilDeletionTimestamp deletes a pod with a 5s
// grace period that kwok keeps Terminating for 1.5s: the router falls back
// to it while it is terminating, its backend keeps answering after the pod
// object is gone, and stops at the deletionTimestamp.
func TestTerminatingPodServesUntilDeletionTimestamp(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	dp := startDataPlane(t, ns)
	a := app{name: "web", image: "tomcat:8.0", grace: 5, behavior: testbed.PodBehavior{TerminateAfter: 1500 * time.Millisecond}}
	tmpl := a.podTemplate()
	pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.Name = "web-0"
	pods := cluster.Client.CoreV1().Pods(ns)
	ctx := context.Background()
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createService(t, ns, "web")
	r := route(t, dp, ns, "web")
	waitEndpoints(t, r, "1 ready", readyCount(1))
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := dp.WaitBackends(wctx, func(b []dataplane.Backend) bool { return len(b) == 1 }); err != nil {
		t.Fatal(err) // the pod watch may lag the EndpointSlice watch a little
	}
	backendURL := dp.Backends()[0].URL

	if err := pods.Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleting, err := pods.Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil || deleting.DeletionTimestamp == nil {
		t.Fatalf("pod right after delete: %v, deletionTimestamp %v", err, deleting.DeletionTimestamp)
	}
	deadline := deleting.DeletionTimestamp.Time

	waitEndpoints(t, r, "terminating fallback", func(eps []dataplane.Endpoint) bool {
		return len(eps) == 1 && !eps[0].Ready && eps[0].Serving && eps[0].Terminating
	})
	if got := mustGet(t, r.URL()); got.status != 200 || got.pod != "web-0" {
		t.Errorf("through the router while terminating: got %d from %q, want 200 from web-0", got.status, got.pod)
	}
	if o := r.Outcomes(); !o[len(o)-1].Terminating {
		t.Errorf("last outcome %+v, want it sent to a terminating endpoint", o[len(o)-1])
	}

	waitEndpoints(t, r, "none once the pod is gone", func(eps []dataplane.Endpoint) bool { return len(eps) == 0 })
	if got := mustGet(t, r.URL()); got.status != http.StatusServiceUnavailable {
		t.Errorf("through the router with the pod gone: got %d, want 503", got.status)
	}
	if time.Until(deadline) < 300*time.Millisecond {
		t.Fatalf("pod gone only %s before its deletionTimestamp: too late to check its backend", time.Until(deadline))
	}
	if got := mustGet(t, backendURL); got.status != 200 || got.pod != "web-0" {
		t.Errorf("backend after the pod object is gone, before its deletionTimestamp: got %d from %q", got.status, got.pod)
	}

	if err := dp.WaitBackends(wctx, func(b []dataplane.Backend) bool { return b[0].Stopped }); err != nil {
		t.Fatalf("backend not stopped: %v; %+v", err, dp.Backends())
	}
	b := dp.Backends()[0]
	if !b.StopAt.Equal(deadline) || b.StoppedAt.Before(deadline) || b.StoppedAt.After(deadline.Add(time.Second)) {
		t.Errorf("backend stopped at %s (scheduled %s), want at the deletionTimestamp %s",
			b.StoppedAt.Format(time.StampMilli), b.StopAt.Format(time.StampMilli), deadline.Format(time.StampMilli))
	}
	if _, err := get(t, backendURL); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("backend after its deletionTimestamp: got %v, want connection refused", err)
	}
}

// TestPodAddressesListenBeforeReady: served at its own address, a pod's
// app listens once the pod runs, before it is Ready (this one never is),
// as a real app does before its readiness probe passes; a gateway that
// learns of a ready endpoint before the data plane learns the pod is
// Ready then finds it listening.
func TestPodAddressesListenBeforeReady(t *testing.T) {
	t.Parallel()
	cluster.RequireReachablePods(t)
	ns := cluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dp, err := dataplane.Start(ctx, dataplane.Options{Config: cluster.Config, Namespace: ns, PodAddresses: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Close)
	createDeployment(t, ns, app{name: "web", image: "tomcat:8.0", replicas: 1, behavior: testbed.PodBehavior{Behavior: testbed.NeverReady}})
	var ip string
	for ip == "" {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 1 && pods.Items[0].Status.PodIP != "" {
			ip = pods.Items[0].Status.PodIP
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the pod got no IP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		got, err := get(t, "http://"+ip+":80/")
		if err == nil && got.status == http.StatusOK && strings.HasPrefix(got.body, "Apache Tomcat/8") {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the running, never ready pod's address does not answer: %+v, %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
