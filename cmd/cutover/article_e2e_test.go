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

// TestArticleQuickstartAdoptedFromKubectl bootstraps as the article's
// quickstart does, with client-side `kubectl apply` of both colors on
// Tomcat 7 and of the Services on blue, then releases with cutover:
// blue/green 8, then 9, then a rollback. cutover takes the fields kubectl
// set and reports it; no --force-conflicts.
func TestArticleQuickstartAdoptedFromKubectl(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	render := func(args ...string) string {
		r := cutover(t, "", "", append([]string{"render"}, args...)...)
		if r.code != exitOK {
			t.Fatalf("render %v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	deployment := writeFile(t, "bluegreen.yml", render("--fix-api", "-f", "testdata/article/seed-bluegreen.yml"))
	services := writeFile(t, "services.yml", mustRead(t, "testdata/article/seed-services.yml"))
	for _, color := range []string{"blue", "green"} {
		kubectlApply(t, ns, render("-f", deployment, "--var", "TARGET_ROLE="+color, "--var", "TOMCAT_VERSION=7"))
	}
	kubectlApply(t, ns, render("-f", services, "--var", "TARGET_ROLE=blue"))
	release := func(version string) result {
		return cutover(t, ns, "", "deploy", "--strategy", "blue-green", "--service", "tomcat-service", "--scale-down-delay", "1s",
			"-f", deployment, "-f", services, "--var", "TOMCAT_VERSION="+version, "-o", "json")
	}
	steps := []struct {
		name   string
		run    func() result
		active string
		image  string
	}{
		{"release 8", func() result { return release("8") }, "green", "tomcat:8"},
		{"release 9", func() result { return release("9") }, "blue", "tomcat:9"},
		{"rollback", func() result { return cutover(t, ns, "", "rollback", "tomcat-service") }, "green", "tomcat:8"},
	}
	for i, s := range steps {
		r := s.run()
		if r.code != exitOK {
			t.Fatalf("%s: exit %d: %s", s.name, r.code, r.stderr)
		}
		if i == 0 && len(takeOvers(t, r.stdout)) == 0 {
			t.Errorf("%s: no take-over warning for the fields kubectl set", s.name)
		}
		active := getService(t, ns, "tomcat-service").Spec.Selector["role"]
		image := getDeployment(t, ns, "tomcat-deployment-"+active).Spec.Template.Spec.Containers[0].Image
		if active != s.active || image != s.image {
			t.Errorf("after %s production is %s on %s, want %s on %s", s.name, active, image, s.active, s.image)
		}
	}
}
