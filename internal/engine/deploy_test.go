package engine

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cutover/cutover/internal/manifest"
)

func TestDefaultApp(t *testing.T) {
	obj := func(kind, name string) manifest.Object {
		u := &unstructured.Unstructured{}
		u.SetKind(kind)
		u.SetName(name)
		return manifest.Object{Unstructured: u}
	}
	long := strings.Repeat("a", 62) + ".b"
	cases := []struct {
		name string
		objs []manifest.Object
		want string
	}{
		{"no objects", nil, ""},
		{"the first workload", []manifest.Object{obj("ConfigMap", "conf"), obj("Deployment", "web"), obj("StatefulSet", "db")}, "web"},
		{"a StatefulSet", []manifest.Object{obj("Service", "db"), obj("StatefulSet", "db-0")}, "db-0"},
		{"no workload: the first object, dots made dashes", []manifest.Object{obj("CustomResourceDefinition", "widgets.example.com")}, "widgets-example-com"},
		{"a workload name with dots", []manifest.Object{obj("Deployment", "web.v2")}, "web-v2"},
		{"too long: cut to a label", []manifest.Object{obj("Deployment", long)}, strings.Repeat("a", 62)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := DefaultApp(tc.objs)
			if got != tc.want {
				t.Fatalf("DefaultApp = %q, want %q", got, tc.want)
			}
			if got != "" {
				if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
					t.Errorf("%q is not a DNS label: %v", got, errs)
				}
			}
		})
	}
}
