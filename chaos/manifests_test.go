package chaos

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// The manifests follow examples/rolling-update and examples/blue-green:
// cutover substitutes ${TOMCAT_VERSION} (and ${TARGET_ROLE} for
// blue/green); the scenario fills in the rest when writing them.

var rollingTmpl = template.Must(template.New("rolling").Parse(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: tomcat-deployment-rolling-update
spec:
  replicas: {{.Replicas}}
  progressDeadlineSeconds: {{.Deadline}}
  selector:
    matchLabels:
      app: tomcat
      role: rolling-update
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: {{.MaxSurge}}
      maxUnavailable: {{.MaxUnavailable}}
  template:
    metadata:
      labels:
        app: tomcat
        role: rolling-update
      annotations:
{{- range $k, $v := .Annotations}}
        {{$k}}: {{printf "%q" $v}}
{{- end}}
    spec:
      terminationGracePeriodSeconds: {{.Grace}}
      containers:
      - name: tomcat-container
        image: tomcat:${TOMCAT_VERSION}
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /
            port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: tomcat-service
spec:
  selector:
    app: tomcat
    role: rolling-update
  ports:
  - port: 80
    targetPort: 8080
`))

var blueGreenTmpl = template.Must(template.New("blue-green").Parse(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: tomcat-deployment-${TARGET_ROLE}
spec:
  replicas: {{.Replicas}}
  progressDeadlineSeconds: {{.Deadline}}
  selector:
    matchLabels:
      app: tomcat
      role: ${TARGET_ROLE}
  template:
    metadata:
      labels:
        app: tomcat
        role: ${TARGET_ROLE}
      annotations:
{{- range $k, $v := .Annotations}}
        {{$k}}: {{printf "%q" $v}}
{{- end}}
    spec:
      terminationGracePeriodSeconds: {{.Grace}}
      containers:
      - name: tomcat-container
        image: tomcat:${TOMCAT_VERSION}
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /
            port: 8080
---
kind: Service
apiVersion: v1
metadata:
  name: tomcat-service
  labels:
    app: tomcat
    role: ${TARGET_ROLE}
    env: prod
spec:
  selector:
    app: tomcat
    role: ${TARGET_ROLE}
  ports:
  - port: 80
    targetPort: 8080
---
kind: Service
apiVersion: v1
metadata:
  name: tomcat-test-${TARGET_ROLE}
  labels:
    app: tomcat
    role: test-${TARGET_ROLE}
spec:
  selector:
    app: tomcat
    role: ${TARGET_ROLE}
  ports:
  - port: 80
    targetPort: 8080
`))

// manifest is what a template needs.
type manifest struct {
	Replicas                 int
	Deadline                 int
	MaxSurge, MaxUnavailable string
	Annotations              map[string]string
	Grace                    int
}

// writeManifests writes the files of release (7: clean, 8: with the
// scenario's pod fault) into a new directory under dir and returns it. A
// canary's are a rolling update's: cutover derives the canary from them.
func (s Scenario) writeManifests(dir, release string) (string, error) {
	m := manifest{Replicas: s.Replicas, Deadline: 120, MaxSurge: s.MaxSurge, MaxUnavailable: s.MaxUnavailable,
		Annotations: s.annotations(release), Grace: s.Grace}
	if release == "8" && s.Fault == NeverReady {
		m.Deadline = neverReadyDeadline
	}
	tmpl := rollingTmpl
	if s.Strategy == BlueGreen {
		tmpl = blueGreenTmpl
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, m); err != nil {
		return "", fmt.Errorf("manifests of release %s: %w", release, err)
	}
	out := filepath.Join(dir, "v"+release)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	return out, os.WriteFile(filepath.Join(out, "app.yaml"), []byte(b.String()), 0o600)
}

// neverReadyDeadline is progressDeadlineSeconds of a never-ready release:
// short, as cutover waits for the deadline to call it failed.
const neverReadyDeadline = 5

// annotations are the pod template's test bed annotations for a release.
func (s Scenario) annotations(release string) map[string]string {
	b := testbed.PodBehavior{ReadyAfter: s.ReadyAfter, ReadyAfterMax: s.ReadyAfterMax, TerminateAfter: s.TerminateAfter}
	extra := map[string]string{}
	if release == "8" {
		switch {
		case s.Fault == NeverReady:
			b.Behavior = testbed.NeverReady
		case s.Fault == CrashLoop:
			b.Behavior, b.CrashEvery = testbed.CrashLoop, 300*time.Millisecond
		case s.Fault == CheckStaged && s.CheckViaApp, s.Fault == BadCanary:
			extra[dataplane.AnnotationHTTPStatus] = "500"
		case s.Fault == SlowCanary:
			extra[dataplane.AnnotationHTTPDelay] = slowDelay.String()
		}
	}
	out := b.Annotations()
	maps.Copy(out, extra)
	return out
}
