package dashboard

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/manifest"
)

// TestDiffOfTwoReleases: the history compares any two releases' objects
// as the records keep them: the image change shows as a removed and an
// added line; a Secret among the files shows by name, never its value.
func TestDiffOfTwoReleases(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	clients := clientsFor(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const secretValue = "hunter2-do-not-show"
	secret := manifest.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db-password"},
		"stringData": map[string]any{"password": secretValue},
	}}}
	for _, version := range []string{"7", "8"} {
		if err := deployBlueGreenWith(ctx, clients, version, nil, secret); err != nil {
			t.Fatalf("deploy %s: %v", version, err)
		}
	}
	srv := newDashboard(t, clients, "alice")
	code, body := get(t, srv.URL+appPath(ns, app))
	if code != http.StatusOK || !strings.Contains(body, `/diff?from=1&amp;to=2`) {
		t.Fatalf("the release view: %d, want a link to the changes since revision 1:\n%s", code, body)
	}
	code, body = get(t, srv.URL+appPath(ns, app)+"/diff?from=1&to=2")
	if code != http.StatusOK {
		t.Fatalf("diff: %d\n%s", code, body)
	}
	for _, want := range []string{`<span class="line del">-[^<]*image: tomcat:7<`, `<span class="line add">&#43;[^<]*image: tomcat:8<`, `<code>db-password</code>`} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Errorf("the diff lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, secretValue) || strings.Contains(body, "aHVudGVyMi") { // base64 of it too
		t.Errorf("the diff shows the Secret's value:\n%s", body)
	}
	if code, _ := get(t, srv.URL+appPath(ns, app)+"/diff?from=1&to=9"); code != http.StatusNotFound {
		t.Errorf("diff with a revision that has no record: %d, want 404", code)
	}
	if _, same := get(t, srv.URL+appPath(ns, app)+"/diff?from=2&to=2"); !strings.Contains(same, "applied the same objects") {
		t.Errorf("a release compared with itself does not say it is the same:\n%s", same)
	}
}
