package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"
)

// webAt renders webApp at a version, as a person would paste it.
func webAt(version string) string {
	r := strings.NewReplacer("${DEADLINE}", "60", "${BEHAVIOR}", "ready", "${VERSION}", version)
	return r.Replace(webApp)
}

// kubectlApply bootstraps as the article's quickstart does: client-side
// `kubectl apply`. Without kubectl on the machine, it writes what kubectl
// would: the object, created by the manager kubectl-client-side-apply.
func kubectlApply(t *testing.T, ns, doc string) {
	t.Helper()
	if path, err := exec.LookPath("kubectl"); err == nil {
		t.Logf("bootstrap with %s apply (client-side)", path)
		// kubectl reads -f a,b as two paths: give it one without the
		// commas a test's name may put in its temp dir.
		cmd := exec.Command(path, "--kubeconfig", cluster.Kubeconfig, "-n", ns, "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(doc)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl apply: %v\n%s", err, out)
		}
		return
	}
	t.Log("bootstrap without kubectl: create with field manager kubectl-client-side-apply")
	r := cutover(t, "", "", "render", "-f", writeFile(t, "bootstrap.yaml", doc))
	var d appsv1.Deployment
	if err := yaml.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(context.Background(), &d,
		metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
		t.Fatal(err)
	}
}

// takeOvers returns the messages of the take-over warnings in -o json
// output.
func takeOvers(t *testing.T, out string) []string { return warningsWith(t, out, "take over") }

// warningsWith returns the messages of the warnings of a status in -o json
// output.
func warningsWith(t *testing.T, out, status string) []string {
	t.Helper()
	var msgs []string
	for _, e := range jsonEvents(t, out) {
		if e["type"] == "warning" && e["status"] == status {
			msgs = append(msgs, e["message"].(string))
		}
	}
	return msgs
}

func TestDeployTakesOverFromImperativeManagersOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, ns string)
		manager string // whose image field cutover must take; "" when it must refuse
		refused string // the manager the refusal names
	}{
		{"kubectl apply, client-side (the article's bootstrap)", func(t *testing.T, ns string) {
			kubectlApply(t, ns, webAt("7"))
		}, "kubectl-client-side-apply", ""},
		{"kubectl apply, then kubectl edit", func(t *testing.T, ns string) {
			kubectlApply(t, ns, webAt("7"))
			setImage(t, ns, "tomcat:7.1", "kubectl-edit")
		}, "kubectl-edit", ""},
		{"the Jenkins plugin's client after cutover", func(t *testing.T, ns string) {
			deployed(t, ns, "7")
			setImage(t, ns, "tomcat:7.1", "fabric8-kubernetes-client")
		}, "fabric8-kubernetes-client", ""},
		{"a controller's field is still refused", func(t *testing.T, ns string) {
			deployed(t, ns, "7")
			setImage(t, ns, "tomcat:7.1", "image-pinning-controller")
		}, "", "image-pinning-controller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			tt.prepare(t, ns)
			before := getDeployment(t, ns, "web").Spec.Template.Spec.Containers[0].Image
			file := writeFile(t, "web.yaml", webApp)
			dry := deployWeb(t, ns, file, "8", "ready", 60, "--dry-run")
			real := deployWeb(t, ns, file, "8", "ready", 60)
			image := getDeployment(t, ns, "web").Spec.Template.Spec.Containers[0].Image
			if tt.manager == "" {
				if dry.code != exitBadInput || real.code != exitBadInput || !strings.Contains(real.stderr, tt.refused) {
					t.Fatalf("want both runs refused (exit %d) naming %s; got %d and %d: %s", exitBadInput, tt.refused, dry.code, real.code, real.stderr)
				}
				if image != before {
					t.Errorf("image %s after a refused run, want %s unchanged", image, before)
				}
				return
			}
			if dry.code != exitOK || real.code != exitOK || image != "tomcat:8" {
				t.Fatalf("dry run exit %d, run exit %d, image %s; want 0, 0, tomcat:8", dry.code, real.code, image)
			}
			for run, out := range map[string]string{"dry run": dry.stdout, "run": real.stdout} {
				msgs := takeOvers(t, out)
				if !slices.ContainsFunc(msgs, func(m string) bool {
					return strings.Contains(m, `from "`+tt.manager+`"`) && strings.Contains(m, "image")
				}) {
					t.Errorf("%s: take-over warnings %q, want one naming the image field and %s", run, msgs, tt.manager)
				}
			}
			again := deployWeb(t, ns, file, "9", "ready", 60)
			if again.code != exitOK || len(takeOvers(t, again.stdout)) != 0 {
				t.Errorf("the next release (exit %d) took over again: %q; cutover owns the fields now", again.code, takeOvers(t, again.stdout))
			}
		})
	}
}

// deployed has cutover release web at version.
func deployed(t *testing.T, ns, version string) {
	t.Helper()
	if r := deployWeb(t, ns, writeFile(t, "web.yaml", webApp), version, "ready", 60); r.code != exitOK {
		t.Fatalf("deploy %s: exit %d", version, r.code)
	}
}

// setImage changes web's image as manager would: an Update-style write
// (kubectl edit, the Jenkins plugin's PUT), or a controller's apply.
func setImage(t *testing.T, ns, image, manager string) {
	t.Helper()
	ctx := context.Background()
	deps := cluster.Client.AppsV1().Deployments(ns)
	if strings.HasSuffix(manager, "-controller") {
		patch := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"tomcat","image":"` + image + `"}]}}}}`
		if _, err := deps.Patch(ctx, "web", types.ApplyPatchType, []byte(patch), metav1.PatchOptions{FieldManager: manager, Force: ptrTo(true)}); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Read and write again when the Deployment controller wrote in
	// between (it annotates a new Deployment), as kubectl edit would.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deps.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		_, err = deps.Update(ctx, d, metav1.UpdateOptions{FieldManager: manager})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestDeployRefusesHelmOwnedObjects: an object a Helm release installed is
// refused, nothing changed, unless --take-ownership.
func TestDeployRefusesHelmOwnedObjects(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	r := cutover(t, "", "", "render", "-f", writeFile(t, "web.yaml", webAt("7")))
	var d appsv1.Deployment
	if err := yaml.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	d.Labels = map[string]string{"app.kubernetes.io/managed-by": "Helm"}
	d.Annotations = map[string]string{"meta.helm.sh/release-name": "web", "meta.helm.sh/release-namespace": ns}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(context.Background(), &d, metav1.CreateOptions{FieldManager: "helm"}); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "web.yaml", webApp)
	refused := deployWeb(t, ns, file, "8", "ready", 60)
	if refused.code != exitBadInput || !strings.Contains(refused.stderr, `owned by Helm release "web" in namespace "`+ns+`"`) ||
		!strings.Contains(refused.stderr, "--take-ownership") {
		t.Fatalf("want exit %d naming the Helm release and --take-ownership; got %d: %s", exitBadInput, refused.code, refused.stderr)
	}
	if image := getDeployment(t, ns, "web").Spec.Template.Spec.Containers[0].Image; image != "tomcat:7" {
		t.Fatalf("a refused run changed the image to %s", image)
	}
	taken := deployWeb(t, ns, file, "8", "ready", 60, "--take-ownership")
	if taken.code != exitOK || getDeployment(t, ns, "web").Spec.Template.Spec.Containers[0].Image != "tomcat:8" {
		t.Fatalf("--take-ownership: exit %d", taken.code)
	}
	if msgs := takeOvers(t, taken.stdout); len(msgs) != 1 || !strings.Contains(msgs[0], `from "helm"`) {
		t.Errorf("take-over warnings %q, want one naming helm", msgs)
	}
}

// TestClientSideApplyFieldsMoveToCutover: what `kubectl apply` (client-side)
// set moves to cutover's field manager before its first apply, as
// `kubectl apply --server-side` does, so that the files are the whole
// truth: an annotation kubectl applied that the files no longer set goes,
// with the last-applied annotation, and the dry run says so first.
func TestClientSideApplyFieldsMoveToCutover(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	kubectlApply(t, ns, strings.Replace(webAt("7"), "metadata:\n  name: web\n", "metadata:\n  name: web\n  annotations:\n    team: payments\n", 1))
	file := writeFile(t, "web.yaml", webApp)
	dry := deployWeb(t, ns, file, "8", "ready", 60, "--dry-run")
	if !slices.ContainsFunc(takeOvers(t, dry.stdout), func(m string) bool {
		return strings.Contains(m, "moves the fields kubectl apply (client-side) set") && strings.Contains(m, "team") &&
			strings.Contains(m, "last-applied-configuration")
	}) {
		t.Errorf("the dry run does not say the migration removes the team and last-applied annotations: %q", takeOvers(t, dry.stdout))
	}
	if r := deployWeb(t, ns, file, "8", "ready", 60); r.code != exitOK {
		t.Fatalf("deploy 8: exit %d", r.code)
	}
	d := getDeployment(t, ns, "web")
	if _, ok := d.Annotations["team"]; ok {
		t.Errorf("the team annotation kubectl applied is still there: %v", d.Annotations)
	}
	if _, ok := d.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; ok {
		t.Error("the last-applied annotation is still there")
	}
	for _, f := range d.ManagedFields {
		if f.Manager == "kubectl-client-side-apply" {
			t.Errorf("kubectl-client-side-apply still owns fields: %s", f.FieldsV1.Raw)
		}
	}
}
