package main

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// plainApp is an ordinary Deployment and Service, as a team has them before
// blue/green.
const plainApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: tomcat:${TOMCAT_VERSION}
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`

func managedDeploy(t *testing.T, ns, file, version string) result {
	t.Helper()
	return cutover(t, ns, "", "deploy", "--strategy", "blue-green", "--managed", "--service", "web", "-f", file,
		"--var", "TOMCAT_VERSION="+version)
}

// assertManagedProduction checks that production selects color and that its
// ready endpoints are exactly web-<color>'s two pods.
func assertManagedProduction(t *testing.T, ns, color, image string) {
	t.Helper()
	ctx := context.Background()
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector["role"] != color || svc.Spec.Selector["app"] != "web" {
		t.Fatalf("production selector %v, want app=web role=%s", svc.Spec.Selector, color)
	}
	d := getDeployment(t, ns, "web-"+color)
	if d.Spec.Selector.MatchLabels["role"] != color || d.Spec.Template.Spec.Containers[0].Image != image || d.Status.AvailableReplicas != 2 {
		t.Errorf("web-%s: selector %v, image %s, %d available", color, d.Spec.Selector.MatchLabels,
			d.Spec.Template.Spec.Containers[0].Image, d.Status.AvailableReplicas)
	}
	if _, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "web-test-"+color, metav1.GetOptions{}); err != nil {
		t.Errorf("test service: %v", err)
	}
	eps := serviceEndpoints(t, ns, "web")
	if len(eps) != 2 {
		t.Errorf("production has %d ready endpoints %v, want 2", len(eps), eps)
	}
	for _, ep := range eps {
		if !strings.HasPrefix(ep, "web-"+color+"-") {
			t.Errorf("production endpoint %s is not a web-%s pod", ep, color)
		}
	}
}

func TestManagedMode(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "app.yaml", plainApp)
	if r := managedDeploy(t, ns, file, "7"); r.code != exitOK {
		t.Fatalf("first managed deploy exited %d", r.code)
	}
	assertManagedProduction(t, ns, "blue", "tomcat:7")
	if _, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{}); err == nil {
		t.Error("the plain Deployment web was applied; managed mode applies only the colored copies")
	}
	if r := managedDeploy(t, ns, file, "8"); r.code != exitOK {
		t.Fatalf("second managed deploy exited %d", r.code)
	}
	assertManagedProduction(t, ns, "green", "tomcat:8")
}

func TestManagedModeAdoptsAPlainApp(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "app.yaml", plainApp)
	if r := cutover(t, ns, "", "deploy", "-f", file, "--var", "TOMCAT_VERSION=7"); r.code != exitOK {
		t.Fatalf("plain deploy exited %d", r.code)
	}
	plain := getDeployment(t, ns, "web")
	if r := managedDeploy(t, ns, file, "8"); r.code != exitOK {
		t.Fatalf("managed deploy exited %d", r.code)
	}
	assertManagedProduction(t, ns, "blue", "tomcat:8")
	after := getDeployment(t, ns, "web")
	if after.Generation != plain.Generation || after.Spec.Selector.MatchLabels["role"] != "" {
		t.Errorf("the plain Deployment was changed: generation %d -> %d, selector %v", plain.Generation, after.Generation,
			after.Spec.Selector.MatchLabels)
	}
}
