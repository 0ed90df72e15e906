package drift_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var cluster *testbed.Cluster

// The tests here freeze and fault the test bed's EndpointSlice controller,
// which every test of the package shares: none of them runs in parallel.
func TestMain(m *testing.M) { os.Exit(testbed.Run(m, &cluster)) }

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func clients(t *testing.T, ns string) *kube.Clients {
	t.Helper()
	c, err := kube.Connect(kube.Options{Kubeconfig: cluster.Kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// app renders a Service "web" and a Deployment "web" of image tomcat:TAG
// with replicas pods that are ready after ready and stay terminating for
// terminate once deleted.
func app(t *testing.T, tag string, replicas int, ready, terminate time.Duration) []manifest.Object {
	t.Helper()
	yaml := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata:
      labels: {app: web}
      annotations: {%s: %s, %s: %s}
    spec:
      terminationGracePeriodSeconds: 60
      containers: [{name: tomcat, image: "tomcat:%s"}]
`, replicas, testbed.AnnotationReadyAfter, ready, testbed.AnnotationTerminateAfter, terminate, tag)
	path := filepath.Join(t.TempDir(), "web-"+tag+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := manifest.Load(context.Background(), manifest.Options{Paths: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	return set.Objects
}

// view starts a View of ns with what the Guard reads.
func view(t *testing.T, ctx context.Context, c *kube.Clients, ns string) *readiness.View {
	t.Helper()
	v, err := readiness.StartView(ctx, c, readiness.ViewOptions{Namespace: ns, EndpointSlices: true, Services: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	if err := v.Synced(ctx); err != nil {
		t.Fatal(err)
	}
	return v
}

// warnings returns the messages of the warning events about object.
func warnings(c *event.Collector, object string) []string {
	var out []string
	for _, e := range c.Events() {
		if e.Type == event.Warning && e.Object == object {
			out = append(out, e.Message)
		}
	}
	return out
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
