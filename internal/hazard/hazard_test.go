package hazard

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/cutover/cutover/internal/manifest"
)

// safe is a Deployment with no hazard; cases edit it with replacements.
const safe = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: tomcat:8
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}}
        lifecycle: {preStop: {sleep: {seconds: 5}}}
`

func workload(t *testing.T, doc string) Workload {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	return Workload{Object: manifest.Object{Unstructured: u}, Namespace: "ns", Ref: "Deployment/ns/web"}
}

func TestCheck(t *testing.T) {
	web := []Service{{Namespace: "ns", Name: "web", Selector: map[string]string{"app": "web"}}}
	cases := []struct {
		name     string
		edits    []string // old, new pairs applied to safe
		services []Service
		blue     bool // blue/green: no strategy rules
		want     []string
		field    string // of the first finding
	}{
		{name: "safe", services: web},
		{name: "no Service routes to it", edits: []string{"        readinessProbe: {httpGet: {path: /, port: 8080}}\n", ""}},
		{name: "a Service in another namespace", edits: []string{"        readinessProbe: {httpGet: {path: /, port: 8080}}\n", ""},
			services: []Service{{Namespace: "other", Name: "web", Selector: map[string]string{"app": "web"}}}},
		{name: "no readiness probe", edits: []string{"        readinessProbe: {httpGet: {path: /, port: 8080}}\n", ""},
			services: web, want: []string{NoReadinessProbe}, field: "spec.template.spec.containers[0].readinessProbe"},
		{name: "a startup probe gates readiness too", edits: []string{"readinessProbe:", "startupProbe:"}, services: web},
		{name: "no preStop", edits: []string{"        lifecycle: {preStop: {sleep: {seconds: 5}}}\n", ""},
			services: web, want: []string{NoPreStop}, field: "spec.template.spec.containers[0].lifecycle.preStop"},
		{name: "no preStop, accepted", edits: []string{"        lifecycle: {preStop: {sleep: {seconds: 5}}}\n", "",
			"metadata: {name: web}", "metadata: {name: web, annotations: {cutover.dev/allow-hazards: \"no-prestop\"}}"}, services: web},
		{name: "an exec sleep counts", edits: []string{"{sleep: {seconds: 5}}", "{exec: {command: [sh, -c, sleep 40]}}"},
			services: web, want: []string{ShortGrace}, field: "spec.template.spec.terminationGracePeriodSeconds"},
		{name: "grace shorter than the preStop", edits: []string{"    spec:\n      containers:", "    spec:\n      terminationGracePeriodSeconds: 5\n      containers:"},
			services: web, want: []string{ShortGrace}},
		{name: "one replica, maxSurge 0", edits: []string{"replicas: 3", "replicas: 1", "maxSurge: 1, maxUnavailable: 0", "maxSurge: 0, maxUnavailable: 1"},
			services: web, want: []string{TakesLastPod}, field: "spec.strategy.rollingUpdate.maxSurge"},
		{name: "maxUnavailable 100%", edits: []string{"maxSurge: 1, maxUnavailable: 0", "maxSurge: 1, maxUnavailable: 100%"},
			services: web, want: []string{TakesLastPod}, field: "spec.strategy.rollingUpdate.maxUnavailable"},
		{name: "maxUnavailable 50% of 3 keeps 2", edits: []string{"maxUnavailable: 0", "maxUnavailable: 50%"}, services: web},
		{name: "one replica with the defaults surges", edits: []string{"replicas: 3", "replicas: 1",
			"  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n", ""}, services: web},
		{name: "recreate", edits: []string{"{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}", "{type: Recreate}"},
			services: web, want: []string{Recreate}, field: "spec.strategy.type"},
		{name: "blue/green ignores the strategy", edits: []string{"{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}", "{type: Recreate}"},
			services: web, blue: true},
		{name: "a sidecar without ports is not the server", edits: []string{"      containers:\n", "      containers:\n      - {name: log, image: busybox}\n"}, services: web},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := safe
			for i := 0; i+1 < len(tc.edits); i += 2 {
				if !strings.Contains(doc, tc.edits[i]) {
					t.Fatalf("edit %q matches nothing", tc.edits[i])
				}
				doc = strings.Replace(doc, tc.edits[i], tc.edits[i+1], 1)
			}
			fs, err := Check([]Workload{workload(t, doc)}, tc.services, Options{Rolling: !tc.blue})
			if err != nil {
				t.Fatal(err)
			}
			var rules []string
			for _, f := range fs {
				rules = append(rules, f.Rule)
				if f.Message == "" || f.Ref != "Deployment/ns/web" {
					t.Errorf("finding %+v lacks its message or object", f)
				}
			}
			if !slices.Equal(rules, tc.want) {
				t.Fatalf("rules %v, want %v: %+v", rules, tc.want, fs)
			}
			if tc.field != "" && fs[0].Field != tc.field {
				t.Errorf("field %q, want %q", fs[0].Field, tc.field)
			}
		})
	}
}

func TestCheckScaleDown(t *testing.T) {
	for _, tc := range []struct {
		delay time.Duration
		warn  bool
	}{{100 * time.Millisecond, true}, {2 * time.Second, true}, {MinScaleDownDelay, false}, {30 * time.Second, false}} {
		msg := CheckScaleDown(tc.delay)
		if got := msg != ""; got != tc.warn {
			t.Errorf("CheckScaleDown(%s) warns %v, want %v", tc.delay, got, tc.warn)
		}
		// It ends with the advice a front end names its setting after, and
		// names no flag itself.
		if tc.warn && (strings.Contains(msg, "--") || !strings.HasSuffix(msg, "Use a scale-down delay of 30s (the default) or at least 5s")) {
			t.Errorf("CheckScaleDown(%s) = %q", tc.delay, msg)
		}
	}
}
