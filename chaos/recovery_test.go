package chaos

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// awaitRecovery waits until the control plane works normally again after
// an API server restart: a probe app's EndpointSlice follows two updates of
// its Deployment in a row within probeWithin each. Until then the
// controller manager's informers may still be backing off (its
// EndpointSlice controller logs "EndpointSlice informer cache is out of
// date" and drops Services after its retry budget), and the scenarios that
// run next would inherit it: endpoints that lag their pods for a minute.
func awaitRecovery(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	a, err := audit.Start(ctx, audit.Options{Client: cluster.Client, Namespace: ns, Service: "probe",
		PodSelector: labels.SelectorFromSet(probeLabels)})
	if err != nil {
		t.Fatalf("recovery probe: %v", err)
	}
	defer a.Stop()
	if err := createProbe(ctx, ns); err != nil {
		t.Fatalf("recovery probe: %v", err)
	}
	for v, inRow := 0, 0; inRow < 2; v++ {
		if v > 0 {
			if err := setProbeImage(ctx, ns, v); err != nil {
				t.Fatalf("recovery probe: %v", err)
			}
		}
		wctx, wcancel := context.WithTimeout(ctx, probeWithin)
		err := a.WaitProduction(wctx, audit.Expect{Image: probeImage(v), Replicas: 1})
		wcancel()
		switch {
		case err == nil:
			inRow++
		case ctx.Err() != nil:
			t.Fatalf("the control plane did not recover from the API server restart in %s: %v", time.Since(began), err)
		default:
			inRow = 0
		}
	}
	t.Logf("control plane back to normal %s after the scenario", time.Since(began).Round(time.Millisecond))
}

// probeWithin is how promptly the probe's endpoints must follow.
const probeWithin = 10 * time.Second

var probeLabels = map[string]string{"app": "probe"}

func probeImage(v int) string { return fmt.Sprintf("probe:%d", v) }

func createProbe(ctx context.Context, ns string) error {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: probeLabels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(1)),
					MaxUnavailable: ptr.To(intstr.FromInt32(0))}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: probeLabels,
					Annotations: testbed.PodBehavior{ReadyAfter: 100 * time.Millisecond}.Annotations()},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: probeImage(0)}},
					TerminationGracePeriodSeconds: ptr.To[int64](1)},
			},
		},
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: corev1.ServiceSpec{Selector: probeLabels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	_, err := cluster.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	return err
}

func setProbeImage(ctx context.Context, ns string, v int) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]any{{"name": "probe", "image": probeImage(v)}}}}}})
	if err != nil {
		return err
	}
	_, err = cluster.Client.AppsV1().Deployments(ns).Patch(ctx, "probe", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}
