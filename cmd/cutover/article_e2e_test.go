package main

import (
	"context"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestArticleManifestsThroughFixAPI takes the article's three files as
// printed (extensions/v1beta1 Deployments without selectors) through
// `cutover render --fix-api`, then deploys the result both ways the
// article does: a rolling update, and blue/green 7 -> 8.
func TestArticleManifestsThroughFixAPI(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	fixed := map[string]string{}
	for _, name := range []string{"seed-rolling.yml", "seed-bluegreen.yml", "seed-services.yml"} {
		r := cutover(t, "", "", "render", "--fix-api", "-f", "testdata/article/"+name)
		if r.code != exitOK {
			t.Fatalf("render --fix-api %s: exit %d: %s", name, r.code, r.stderr)
		}
		for _, v := range []string{"${TOMCAT_VERSION}", "${TARGET_ROLE}"} {
			if strings.Contains(mustRead(t, "testdata/article/"+name), v) && !strings.Contains(r.stdout, v) {
				t.Errorf("render --fix-api %s lost the variable %s: it must stay for the deploy", name, v)
			}
		}
		fixed[name] = writeFile(t, name, r.stdout)
		if name != "seed-services.yml" && !strings.Contains(r.stderr, "apiVersion extensions/v1beta1 -> apps/v1; added spec.selector.matchLabels") {
			t.Errorf("render --fix-api %s does not list its changes on stderr: %q", name, r.stderr)
		}
	}
	if r := cutover(t, ns, "", "deploy", "-f", fixed["seed-rolling.yml"], "--var", "TOMCAT_VERSION=7"); r.code != exitOK {
		t.Fatalf("rolling deploy of the fixed article file: exit %d", r.code)
	}
	for _, version := range []string{"7", "8"} {
		r := cutover(t, ns, "", "deploy", "--strategy", "blue-green", "--service", "tomcat-service", "--scale-down-delay", "1s",
			"-f", fixed["seed-bluegreen.yml"], "-f", fixed["seed-services.yml"], "--var", "TOMCAT_VERSION="+version)
		if r.code != exitOK {
			t.Fatalf("blue/green %s of the fixed article files: exit %d", version, r.code)
		}
	}
	for color, image := range map[string]string{"blue": "tomcat:7", "green": "tomcat:8"} {
		d := getDeployment(t, ns, "tomcat-deployment-"+color)
		if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
			t.Errorf("%s runs %s, want %s", color, got, image)
		}
	}
	svc := getService(t, ns, "tomcat-service")
	if svc.Spec.Selector["role"] != "green" {
		t.Errorf("production selects %v, want green", svc.Spec.Selector)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	s, err := cluster.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
