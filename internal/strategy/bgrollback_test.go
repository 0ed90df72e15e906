package strategy

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cutover/cutover/internal/manifest"
)

// The instant rollback compares what a color runs with the images its
// release recorded (manifest.Images): both must read a Deployment alike.
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
	cases := []struct {
		name string
		deps []appsv1.Deployment
		want []string
	}{
		{"one container", []appsv1.Deployment{dep(nil, "tomcat:7")}, []string{"tomcat:7"}},
		{"init containers count", []appsv1.Deployment{dep([]string{"migrate:7"}, "tomcat:7")}, []string{"migrate:7", "tomcat:7"}},
		{"sorted, no repeats, across Deployments", []appsv1.Deployment{dep(nil, "web:2", "sidecar:1"), dep([]string{"sidecar:1"}, "api:3")},
			[]string{"api:3", "sidecar:1", "web:2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := DeploymentImages(tc.deps)
			if !slices.Equal(got, tc.want) {
				t.Errorf("DeploymentImages = %v, want %v", got, tc.want)
			}
			var objs []manifest.Object
			for i := range tc.deps {
				m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&tc.deps[i])
				if err != nil {
					t.Fatal(err)
				}
				objs = append(objs, manifest.Object{Unstructured: &unstructured.Unstructured{Object: m}})
			}
			if recorded := manifest.Images(objs); !slices.Equal(got, recorded) {
				t.Errorf("a color running these Deployments shows %v, its release recorded %v", got, recorded)
			}
		})
	}
}
