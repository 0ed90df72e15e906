package apiversions

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/cutover/cutover/internal/hint"
)

func parse(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// seedRolling is the article's rolling-update Deployment as printed.
const seedRolling = `apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: tomcat-deployment-rolling-update}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: tomcat, role: rolling-update}
    spec:
      containers: [{name: tomcat-container, image: "tomcat:${TOMCAT_VERSION}"}]
`

func TestExplain(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"the article's Deployment", seedRolling, []string{
			"extensions/v1beta1 Deployment was removed in Kubernetes 1.16: use apiVersion: apps/v1",
			"selector:\n    matchLabels:\n      app: tomcat\n      role: rolling-update",
			"spec.selector is required and must match spec.template.metadata.labels",
			"; an API fix can convert the files, for review"}},
		{"an Ingress", "apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata: {name: web}\n", []string{
			"removed in Kubernetes 1.22: use apiVersion: networking.k8s.io/v1", "spec.backend is renamed spec.defaultBackend", "pathType"}},
		{"a CronJob", "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c}\n", []string{"removed in Kubernetes 1.25: use apiVersion: batch/v1"}},
		{"a PodDisruptionBudget", "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: p}\n", []string{
			"use apiVersion: policy/v1", "an empty spec.selector now selects every pod"}},
		{"an HPA", "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n", []string{
			"removed in Kubernetes 1.26: use apiVersion: autoscaling/v2"}},
		{"a PodSecurityPolicy", "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: p}\n", []string{
			"removed in Kubernetes 1.25, with no replacement", "Pod Security Admission"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := parse(t, tt.doc)
			r, ok := Lookup(obj.GroupVersionKind())
			if !ok {
				t.Fatalf("%s not in the table", obj.GroupVersionKind())
			}
			err := r.Explain(obj)
			got := err.Error()
			if hinted := slices.Contains(hint.Settings(err), hint.FixAPI); hinted != (r.To != "") {
				t.Errorf("Explain hints at %s: %v, want %v (a replacement: %q)", hint.FixAPI, hinted, !hinted, r.To)
			}
			if strings.Contains(got, "--") {
				t.Errorf("Explain = %q names a flag", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Explain = %q\nlacks %q", got, w)
				}
			}
		})
	}
	if _, ok := Lookup(parse(t, "apiVersion: apps/v1\nkind: Deployment\n").GroupVersionKind()); ok {
		t.Error("apps/v1 Deployment is not removed")
	}
}

func TestFix(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"the article's Deployment gets apps/v1 and its selector", seedRolling, `apiVersion: apps/v1
kind: Deployment
metadata: {name: tomcat-deployment-rolling-update}
spec:
  replicas: 2
  selector: {matchLabels: {app: tomcat, role: rolling-update}}
  template:
    metadata:
      labels: {app: tomcat, role: rolling-update}
    spec:
      containers: [{name: tomcat-container, image: "tomcat:${TOMCAT_VERSION}"}]
`},
		{"an Ingress moves its backends", `apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: web}
spec:
  backend: {serviceName: default, servicePort: 80}
  rules:
  - http:
      paths:
      - {path: /, backend: {serviceName: web, servicePort: http}}
`, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  defaultBackend: {service: {name: default, port: {number: 80}}}
  rules:
  - http:
      paths:
      - {path: /, pathType: ImplementationSpecific, backend: {service: {name: web, port: {name: http}}}}
`},
		{"an HPA v2beta1 moves its targets", `apiVersion: autoscaling/v2beta1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  metrics:
  - type: Resource
    resource: {name: cpu, targetAverageUtilization: 60}
`, `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
`},
		{"a CronJob only changes version", "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c}\n",
			"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := parse(t, tt.doc)
			if changes := Fix(obj); len(changes) == 0 {
				t.Fatal("Fix changed nothing")
			}
			if want := parse(t, tt.want); !reflect.DeepEqual(obj.Object, want.Object) {
				got, _ := yaml.Marshal(obj.Object)
				t.Errorf("Fix gave\n%s", got)
			}
		})
	}
}

func TestMissingSelector(t *testing.T) {
	obj := parse(t, strings.Replace(seedRolling, "extensions/v1beta1", "apps/v1", 1))
	want := "required in apps/v1 (older versions defaulted it from the template's labels); add, from the template's labels:\n" +
		"  selector:\n    matchLabels:\n      app: tomcat\n      role: rolling-update"
	if got := MissingSelector(obj); got != want {
		t.Errorf("MissingSelector = %q", got)
	}
	if FixSelector(obj); MissingSelector(obj) != "" {
		t.Error("FixSelector left the selector missing")
	}
	quoted := parse(t, "apiVersion: apps/v1\nkind: Deployment\nspec: {template: {metadata: {labels: {version: \"8\", enabled: \"true\"}}}}\n")
	if got := MissingSelector(quoted); !strings.Contains(got, `version: "8"`) || !strings.Contains(got, `enabled: "true"`) {
		t.Errorf("values YAML would not read as strings are not quoted: %q", got)
	}
}
