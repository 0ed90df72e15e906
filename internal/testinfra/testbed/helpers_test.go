package testbed_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var cluster *testbed.Cluster

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(m.Run()) // the child of TestPanickingTestLeavesNoProcess starts its own
	}
	os.Exit(testbed.Run(m, &cluster))
}

type deployOpts struct {
	name, image     string
	replicas        int32
	labels          map[string]string
	behavior        testbed.PodBehavior
	maxSurge        int
	maxUnavailable  int
	progressSeconds int32
}

func deployment(o deployOpts) *appsv1.Deployment {
	labels := map[string]string{"app": o.name}
	for k, v := range o.labels {
		labels[k] = v
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: o.name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(o.replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge:       ptr.To(intstr.FromInt(o.maxSurge)),
					MaxUnavailable: ptr.To(intstr.FromInt(o.maxUnavailable)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: o.behavior.Annotations()},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "app", Image: o.image}},
					TerminationGracePeriodSeconds: ptr.To[int64](1),
				},
			},
		},
	}
	if o.progressSeconds > 0 {
		d.Spec.ProgressDeadlineSeconds = ptr.To(o.progressSeconds)
	}
	return d
}

// until watches lw until cond holds for the store, failing the test after
// timeout. cond sees the store after every event.
func until(t *testing.T, timeout time.Duration, lw cache.ListerWatcher, obj runtime.Object, cond func(cache.Store) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var store cache.Store
	_, err := watchtools.UntilWithSync(ctx, lw, obj,
		func(s cache.Store) (bool, error) { store = s; return cond(s), nil },
		func(watch.Event) (bool, error) { return cond(store), nil })
	if err != nil {
		t.Fatalf("waiting for %T: %v", obj, err)
	}
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func deploymentCondition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == typ {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func fieldName(name string) fields.Selector {
	return fields.OneTermEqualSelector("metadata.name", name)
}

func itoa(i int) string { return strconv.Itoa(i) }
