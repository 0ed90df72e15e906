package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// web is a plain Deployment and its Service: the canary's app.
const web = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "tomcat:VERSION", ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

// deployCanary releases web at version with the real engine, as `cutover
// deploy --strategy canary` does.
func deployCanary(ctx context.Context, t *testing.T, clients *kube.Clients, version string, steps ...strategy.CanaryStep) error {
	path := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(web, "VERSION", version)), 0o600); err != nil {
		return err
	}
	set, err := manifest.Load(ctx, manifest.Options{Paths: []string{path}})
	if err != nil {
		return err
	}
	return engine.Deploy(ctx, engine.DeployRequest{
		Run:      engine.Run{Clients: clients, App: "web", Sink: event.Discard},
		Strategy: engine.Canary, Objects: set.Objects,
		Canary:          engine.CanarySettings{Steps: steps, ScaleDownDelay: 100 * time.Millisecond},
		RollbackTimeout: time.Minute,
	})
}

// TestCanaryActions: a canary in progress is promoted from its pause, or
// aborted at its pause or in the middle of a step, by the release view's
// forms; the cluster shows the outcome: stable runs the new release after
// a promote, and the old one, the canary without pods, after an abort.
func TestCanaryActions(t *testing.T) {
	t.Parallel()
	weight := strategy.CanaryStep{Kind: strategy.StepWeight, Weight: 50}
	cases := []struct {
		name   string
		steps  []strategy.CanaryStep
		marker string // what the release view shows once the action is open
		action string
		image  string // stable's, after
		out    string // the record's outcome
	}{
		{"promote at a pause", []strategy.CanaryStep{weight, {Kind: strategy.StepPause}}, `<span class="marker">paused</span>`,
			"promote", "tomcat:8", release.OutcomeSucceeded},
		{"abort at a pause", []strategy.CanaryStep{weight, {Kind: strategy.StepPause}}, `<span class="marker">paused</span>`,
			"abort", "tomcat:7", release.OutcomeRolledBack},
		{"abort mid-step", []strategy.CanaryStep{weight, {Kind: strategy.StepPause, Pause: 10 * time.Minute}}, `stage-running"><span class="name">Step 2/2`,
			"abort", "tomcat:7", release.OutcomeRolledBack},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			clients := clientsFor(t, ns)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := deployCanary(ctx, t, clients, "7", weight); err != nil {
				t.Fatalf("first release: %v", err)
			}
			srv := newDashboard(t, clients, "alice")
			events := changes(t, srv.URL)
			done := make(chan error, 1)
			go func() { done <- deployCanary(ctx, t, clients, "8", tc.steps...) }()
			page := waitForPage(t, srv.URL+appPath(ns, "web"), tc.marker, events, done)
			if tc.action == "promote" && !strings.Contains(page, appPath(ns, "web")+"/abort") {
				t.Errorf("the paused canary's page offers no Abort")
			}
			if tc.action == "promote" {
				assertTracksShown(t, ns, page)
			}
			_, confirm := get(t, srv.URL+appPath(ns, "web")+"/"+tc.action)
			resp, _ := post(t, srv.URL+appPath(ns, "web")+"/"+tc.action, url.Values{"csrf": {csrfToken(t, confirm)}, "comment": {"by the dashboard"}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST %s: %d, want 303", tc.action, resp.StatusCode)
			}
			err := <-done
			var failure *strategy.Failure
			if (tc.out == release.OutcomeSucceeded) != (err == nil) || err != nil && !errors.As(err, &failure) {
				t.Fatalf("the canary's run ended with %v, want outcome %s", err, tc.out)
			}
			d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Spec.Template.Spec.Containers[0].Image; got != tc.image {
				t.Errorf("stable runs %s, want %s", got, tc.image)
			}
			c, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "web"+strategy.CanarySuffix, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if *c.Spec.Replicas != 0 {
				t.Errorf("the canary asks for %d pods, want 0", *c.Spec.Replicas)
			}
			if rec := latestRecord(t, ns, "web"); rec.Outcome != tc.out {
				t.Errorf("record outcome %s, want %s", rec.Outcome, tc.out)
			}
		})
	}
}

// waitForPage follows the event stream until the page at url holds want,
// and returns it.
func waitForPage(t *testing.T, url, want string, events <-chan string, done <-chan error) string {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		if _, body := get(t, url); strings.Contains(body, want) {
			return body
		}
		select {
		case <-events:
		case err := <-done:
			t.Fatalf("the run ended before %s showed %q: %v", url, want, err)
		case <-deadline:
			t.Fatalf("%s never showed %q", url, want)
		}
	}
}

// assertTracksShown checks that a paused canary's page shows the Service
// in front of both tracks, and each track's pods as the cluster has them.
func assertTracksShown(t *testing.T, ns, page string) {
	t.Helper()
	for track, sel := range map[string]string{"canary": "cutover.dev/track=canary", "stable": "app=web,cutover.dev/track!=canary"} {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(page, "<h3>"+track+"</h3>")
		if i < 0 || len(pods.Items) == 0 {
			t.Errorf("the page shows no %s track (the cluster has %d such pods):\n%s", track, len(pods.Items), page)
			continue
		}
		group, _, _ := strings.Cut(page[i:], "</div>")
		for _, p := range pods.Items {
			if !strings.Contains(group, "<code>"+p.Name+"</code>") {
				t.Errorf("the %s track lacks pod %s:\n%s", track, p.Name, group)
			}
		}
	}
}
