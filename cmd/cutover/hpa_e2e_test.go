package main

import (
	"context"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// autoscale creates an HPA for a Deployment and scales the Deployment to
// n through its scale subresource, as the autoscaler does (the test bed
// has no metrics to make it scale by itself).
func autoscale(t *testing.T, ns, deployment string, n int32) {
	t.Helper()
	ctx := context.Background()
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: deployment},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: deployment},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
		},
	}
	if _, err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: deployment, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
	if _, err := cluster.Client.AppsV1().Deployments(ns).UpdateScale(ctx, deployment, scale,
		metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"}); err != nil {
		t.Fatal(err)
	}
}

func TestRollingUpdateKeepsTheReplicasAnHPASet(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "web.yaml", webApp) // replicas: 3
	if r := deployWeb(t, ns, file, "7", "ready", 60); r.code != exitOK {
		t.Fatalf("deploy 7: exit %d", r.code)
	}
	autoscale(t, ns, "web", 5)
	r := deployWeb(t, ns, file, "8", "ready", 60)
	if r.code != exitOK {
		t.Fatalf("deploy 8: exit %d", r.code)
	}
	d := getDeployment(t, ns, "web")
	if *d.Spec.Replicas != 5 || d.Status.UpdatedReplicas != 5 || d.Spec.Template.Spec.Containers[0].Image != "tomcat:8" {
		t.Errorf("after the release: replicas %d (updated %d), image %s; want 5 of tomcat:8, as the HPA left it",
			*d.Spec.Replicas, d.Status.UpdatedReplicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	if msgs := warningsWith(t, r.stdout, "autoscaled"); len(msgs) != 1 || !strings.Contains(msgs[0], "spec.replicas 5") ||
		!strings.Contains(msgs[0], "not the files' 3") || !strings.Contains(msgs[0], "HorizontalPodAutoscaler web") {
		t.Errorf("autoscaled warnings %q, want one: replicas 5, not the files' 3, HPA web", msgs)
	}
}

func TestBlueGreenStartsTheNewColorAtTheActiveColorsAutoscaledCount(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	fixed := cutover(t, "", "", "render", "--fix-api", "-f", "testdata/article/seed-bluegreen.yml") // replicas: 2
	deployment := writeFile(t, "bluegreen.yml", fixed.stdout)
	services := "testdata/article/seed-services.yml"
	release := func(version string) result {
		return cutover(t, ns, "", "deploy", "--strategy", "blue-green", "--service", "tomcat-service", "--scale-down-delay", "1s",
			"-f", deployment, "-f", services, "--var", "TOMCAT_VERSION="+version, "-o", "json")
	}
	if r := release("7"); r.code != exitOK {
		t.Fatalf("release 7: exit %d", r.code)
	}
	autoscale(t, ns, "tomcat-deployment-blue", 5)
	r := release("8")
	if r.code != exitOK {
		t.Fatalf("release 8: exit %d", r.code)
	}
	// The pods, not the Deployment's status: cutover judges the color from
	// its pods, and the status may still be a controller hop behind.
	green := getDeployment(t, ns, "tomcat-deployment-green")
	if ready := readyPods(t, ns, "role=green"); *green.Spec.Replicas != 5 || len(ready) != 5 {
		t.Errorf("green took production with %d replicas (ready pods %v), want 5, as many as blue carried it with", *green.Spec.Replicas, ready)
	}
	if msgs := warningsWith(t, r.stdout, "autoscaled"); len(msgs) != 1 || !strings.Contains(msgs[0], "as Deployment tomcat-deployment-blue runs now") {
		t.Errorf("autoscaled warnings %q, want one naming blue as the source", msgs)
	}
}
