package audit_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/testinfra/audit"
	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var cluster *testbed.Cluster

func TestMain(m *testing.M) { os.Exit(testbed.Run(m, &cluster)) }

// TestAuditorOnTheTestBed audits three changes of production under load on
// the real control plane: a blue/green switch done right, one to a color
// with an unready pod, and a rolling update that replaces every pod at once.
// The auditor must find exactly the violations each one commits.
func TestAuditorOnTheTestBed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		colorKey string
		minReady int
		setup    func(t *testing.T, ns string)
		change   func(t *testing.T, ns string)
		want     []audit.Invariant
		expect   audit.Expect
		// prodViolation is what CheckProduction must say; "" for nothing.
		prodViolation string
	}{
		{
			name: "blue/green switch to a ready color", colorKey: "role", minReady: 2,
			setup: func(t *testing.T, ns string) {
				createDeployment(t, ns, app{color: "blue", image: "tomcat:7", replicas: 2})
				createDeployment(t, ns, app{color: "green", image: "tomcat:8", replicas: 2})
				createService(t, ns, "blue")
			},
			change: func(t *testing.T, ns string) { switchTo(t, ns, "green") },
			expect: audit.Expect{Image: "tomcat:8", Replicas: 2},
		},
		{
			name: "blue/green switch to a half-ready color", colorKey: "role", minReady: 1,
			setup: func(t *testing.T, ns string) {
				createDeployment(t, ns, app{color: "blue", image: "tomcat:7", replicas: 2})
				createDeployment(t, ns, app{color: "green", image: "tomcat:8", replicas: 1})
				createPod(t, ns, "green-stuck", app{color: "green", image: "tomcat:8",
					behavior: testbed.PodBehavior{Behavior: testbed.NeverReady}})
				createService(t, ns, "blue")
			},
			change:        func(t *testing.T, ns string) { switchTo(t, ns, "green") },
			want:          []audit.Invariant{audit.ReadyColor},
			expect:        audit.Expect{Image: "tomcat:8", Replicas: 2},
			prodViolation: "pod green-stuck is not ready",
		},
		{
			name: "rolling update all at once", minReady: 2,
			setup: func(t *testing.T, ns string) {
				createDeployment(t, ns, app{color: "blue", image: "tomcat:7", replicas: 2, allAtOnce: true})
				createService(t, ns, "blue")
			},
			change: func(t *testing.T, ns string) { setImage(t, ns, "web-blue", "tomcat:8") },
			want:   []audit.Invariant{audit.ReadyEndpoints, audit.NoFailedRequests},
			expect: audit.Expect{Image: "tomcat:8", Replicas: 2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			tc.setup(t, ns)
			waitReady(t, ns, "web")
			router := route(t, ns)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			a, err := audit.Start(ctx, audit.Options{Client: cluster.Client, Namespace: ns, Service: "web",
				PodSelector: labels.SelectorFromSet(labels.Set{"app": "web"}), Router: router,
				ColorKey: tc.colorKey, MinReady: tc.minReady})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Stop()
			stopLoad := load(router.URL())
			time.Sleep(300 * time.Millisecond)
			a.Mark(time.Now(), "change")
			tc.change(t, ns)
			if tc.prodViolation == "" {
				if err := a.WaitProduction(ctx, tc.expect); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(300 * time.Millisecond)
			res := stopLoad()
			rep := a.Stop()
			t.Log(res)

			vs := rep.Violations()
			if got := kinds(vs); !equal(got, tc.want) {
				t.Errorf("violations %v, want %v", got, tc.want)
				rep.Assert(t)
			}
			if (res.Failures > 0) != contains(tc.want, audit.NoFailedRequests) {
				t.Errorf("the load saw %d failed requests, the audit %v", res.Failures, vs)
			}
			prod := rep.CheckProduction(tc.expect)
			switch {
			case tc.prodViolation == "" && len(prod) > 0:
				rep.Assert(t, prod...)
			case tc.prodViolation != "" && (len(prod) == 0 || !strings.Contains(prod[0].Detail, tc.prodViolation)):
				t.Errorf("CheckProduction: %v, want a violation saying %q", prod, tc.prodViolation)
			}
		})
	}
}

func kinds(vs []audit.Violation) []audit.Invariant {
	seen := map[audit.Invariant]bool{}
	var out []audit.Invariant
	for _, v := range vs {
		if !seen[v.Invariant] {
			seen[v.Invariant] = true
			out = append(out, v.Invariant)
		}
	}
	return out
}

func equal(a, b []audit.Invariant) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		if !contains(a, x) {
			return false
		}
	}
	return true
}

func contains(s []audit.Invariant, x audit.Invariant) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// app is one color's Deployment "web-<color>" (labels app=web,
// role=<color>).
type app struct {
	color, image string
	replicas     int32
	behavior     testbed.PodBehavior
	allAtOnce    bool // maxSurge 0, maxUnavailable 100%: replaces every pod at once
}

func (a app) labels() map[string]string { return map[string]string{"app": "web", "role": a.color} }

func (a app) template() corev1.PodTemplateSpec {
	b := a.behavior
	if b.ReadyAfter == 0 {
		b.ReadyAfter = 300 * time.Millisecond
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: a.labels(), Annotations: b.Annotations()},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "app", Image: a.image}},
			TerminationGracePeriodSeconds: ptr.To[int64](3),
		},
	}
}

func createDeployment(t *testing.T, ns string, a app) {
	t.Helper()
	rollout := &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}
	if a.allAtOnce {
		rollout = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(0)), MaxUnavailable: ptr.To(intstr.FromString("100%"))}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + a.color},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(a.replicas),
			Selector: &metav1.LabelSelector{MatchLabels: a.labels()},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: rollout},
			Template: a.template(),
		},
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, ns, name string, a app) {
	t.Helper()
	tmpl := a.template()
	p := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	p.Name = name
	if _, err := cluster.Client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createService(t *testing.T, ns, color string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web", "role": color},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func switchTo(t *testing.T, ns, color string) {
	t.Helper()
	patch := []byte(`{"spec":{"selector":{"role":"` + color + `"}}}`)
	if _, err := cluster.Client.CoreV1().Services(ns).Patch(context.Background(), "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func setImage(t *testing.T, ns, name, image string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]any{{"name": "app", "image": image}}}}}})
	if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(context.Background(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitReady waits, through an auditor, until the Service has ready
// endpoints for every pod it selects.
func waitReady(t *testing.T, ns, service string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := audit.Start(ctx, audit.Options{Client: cluster.Client, Namespace: ns, Service: service})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := cluster.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list.Items {
		if d.Spec.Template.Labels["role"] == svc.Spec.Selector["role"] {
			want := audit.Expect{Image: d.Spec.Template.Spec.Containers[0].Image, Replicas: int(*d.Spec.Replicas)}
			if err := a.WaitProduction(ctx, want); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func route(t *testing.T, ns string) *dataplane.Router {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dp, err := dataplane.Start(ctx, dataplane.Options{Config: cluster.Config, Namespace: ns, MaxGrace: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Close)
	r, err := dp.Route(ctx, ns, "web", intstr.FromInt32(80))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// load sends 200 requests a second to url until the returned stop is
// called.
func load(url string) (stop func() *dataplane.LoadResult) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *dataplane.LoadResult, 1)
	go func() { done <- dataplane.Load(ctx, dataplane.LoadOptions{URL: url, Rate: 200}) }()
	return func() *dataplane.LoadResult {
		cancel()
		return <-done
	}
}
