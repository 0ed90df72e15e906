package strategy

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cutover/cutover/internal/manifest"
)

// The instant rollback compares what a color runs with the images its
// release recorded of its Deployments (manifest.DeploymentImages): both
// must read a Deployment alike, and neither may count the other workloads
// in the files, which no color runs.
func TestDeploymentImagesMatchRecordedImages(t *testing.T) {
	dep := func(init []string, images ...string) appsv1.Deployment {
		out := appsv1.Deployment{}
		out.APIVersion, out.Kind = "apps/v1", "Deployment"
		for _, i := range init {
			out.Spec.Template.Spec.InitContainers = append(out.Spec.Template.Spec.InitContainers, corev1.Container{Name: "init", Image: i})
		}
		for _, i := range images {
			out.Spec.Template.Spec.Containers = append(out.Spec.Template.Spec.Containers, corev1.Container{Name: "app", Image: i})
		}
		return out
	}
	// Workloads that are not the color's Deployments: a migration Job, a
	// CronJob, and a custom kind named Deployment in another group.
	others := []runtime.Object{
		&batchv1.Job{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "migrate", Image: "migrate:7"}}}}}},
		&batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, Spec: batchv1.CronJobSpec{
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init", Image: "cron-init:1"}},
				Containers:     []corev1.Container{{Name: "report", Image: "report:1"}}}}}}}},
	}
	notApps := dep(nil, "lookalike:1")
	notApps.APIVersion = "example.com/v1"
	others = append(others, &notApps)
	otherImages := []string{"cron-init:1", "lookalike:1", "migrate:7", "report:1"}
	cases := []struct {
		name string
		deps []appsv1.Deployment
		want []string
	}{
		{"one container", []appsv1.Deployment{dep(nil, "tomcat:7")}, []string{"tomcat:7"}},
		{"init containers count", []appsv1.Deployment{dep([]string{"migrate:7"}, "tomcat:7")}, []string{"migrate:7", "tomcat:7"}},
		{"sorted, no repeats, across Deployments", []appsv1.Deployment{dep(nil, "web:2", "sidecar:1"), dep([]string{"sidecar:1"}, "api:3")},
			[]string{"api:3", "sidecar:1", "web:2"}},
		{"an image of a Deployment and a Job", []appsv1.Deployment{dep(nil, "migrate:7", "tomcat:7")}, []string{"migrate:7", "tomcat:7"}},
	}
	toObject := func(o runtime.Object) manifest.Object {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		return manifest.Object{Unstructured: &unstructured.Unstructured{Object: m}}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := DeploymentImages(tc.deps)
			if !slices.Equal(got, tc.want) {
				t.Errorf("DeploymentImages = %v, want %v", got, tc.want)
			}
			var objs []manifest.Object
			for _, o := range others[:2] { // before and after the Deployments: order does not matter
				objs = append(objs, toObject(o))
			}
			for i := range tc.deps {
				objs = append(objs, toObject(&tc.deps[i]))
			}
			objs = append(objs, toObject(others[2]))
			if recorded := manifest.DeploymentImages(objs); !slices.Equal(got, recorded) {
				t.Errorf("a color running these Deployments shows %v, its release recorded %v", got, recorded)
			}
			all := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(tc.want), otherImages...))))
			if images := manifest.Images(objs); !slices.Equal(images, all) {
				t.Errorf("manifest.Images = %v, want every workload's %v", images, all)
			}
		})
	}
}
