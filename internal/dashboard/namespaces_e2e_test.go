package dashboard

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

// storeRecord writes a blue/green record of app in namespace ns.
func storeRecord(t *testing.T, ns, app, outcome string, approval *release.Approval) {
	t.Helper()
	r := &release.Record{App: app, Strategy: engine.BlueGreen, FromColor: "blue", ToColor: "green",
		Images: []string{"tomcat:8"}, Outcome: outcome, Approval: approval}
	if err := release.NewStore(cluster.Client, ns).Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// waitAllowed waits until RBAC lets ServiceAccount saNS/name list
// ConfigMaps in namespace ns: the API server's authorizer learns of a new
// RoleBinding from its own watch, a moment after the binding is written.
// There is no event of that to watch; the SubjectAccessReview asks the
// authorizer that the dashboard's requests meet.
func waitAllowed(t *testing.T, ns, saNS, name string) {
	t.Helper()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + saNS + ":" + name,
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "configmaps"}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := cluster.Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s may still not list configmaps in %s after 30s: %v", saNS, name, ns, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestManyNamespaces: a local dashboard of two namespaces lists the apps
// of both, each with its namespace, and serves each app's pages and
// metrics under its own namespace.
func TestManyNamespaces(t *testing.T) {
	t.Parallel()
	one, two := cluster.Namespace(t), cluster.Namespace(t)
	storeRecord(t, one, "shop", release.OutcomeSucceeded, nil)
	storeRecord(t, two, "shop", release.OutcomeRunning, &release.Approval{State: release.ApprovalPending})
	storeRecord(t, two, "api", release.OutcomeFailed, nil)
	srv := newDashboard(t, clientsFor(t, one), "alice", one, two)

	_, apps := get(t, srv.URL+"/")
	for _, want := range []string{"namespaces " + one + ", " + two, "<th>Namespace</th>", "1 waiting for people",
		`href="` + appPath(one, "shop") + `"`, `href="` + appPath(two, "shop") + `"`, `href="` + appPath(two, "api") + `"`} {
		if !strings.Contains(apps, want) {
			t.Errorf("the apps view lacks %q:\n%s", want, apps)
		}
	}
	// The same app name in two namespaces: two pages, each its own.
	if _, page := get(t, srv.URL+appPath(one, "shop")); !strings.Contains(page, "namespace "+one) || strings.Contains(page, `id="decision"`) {
		t.Errorf("%s/shop's page: want its namespace and no decision (its release is done):\n%s", one, page)
	}
	if _, page := get(t, srv.URL+appPath(two, "shop")); !strings.Contains(page, "namespace "+two) || !strings.Contains(page, appPath(two, "shop")+"/approve") {
		t.Errorf("%s/shop's page: want its namespace and its Approve form:\n%s", two, page)
	}
	if code, _ := get(t, srv.URL+appPath(one, "api")); code != http.StatusNotFound {
		t.Errorf("GET %s: %d, want 404 (api has records in %s only)", appPath(one, "api"), code, two)
	}
	families := scrape(t, srv.URL+"/metrics")
	for ns, outcome := range map[string]string{one: release.OutcomeSucceeded, two: release.OutcomeRunning} {
		labels := map[string]string{"namespace": ns, "app": "shop", "strategy": engine.BlueGreen, "outcome": outcome}
		if m := find(families["cutover_releases"], labels); m == nil || m.GetGauge().GetValue() != 1 {
			t.Errorf("/metrics: cutover_releases%v is %v, want 1", labels, m)
		}
	}
	if m := find(families["cutover_pending_approvals"], map[string]string{"namespace": two, "app": "shop"}); m == nil || m.GetGauge().GetValue() != 1 {
		t.Errorf("cutover_pending_approvals of %s/shop: %v, want 1", two, m)
	}
}

// TestServeManyNamespaces: one dashboard in serve mode for two
// namespaces shows each person the namespaces RBAC lets them read, and
// nothing of the others: not in the apps view, not by URL, not in the
// event stream.
func TestServeManyNamespaces(t *testing.T) {
	t.Parallel()
	other := cluster.Namespace(t)
	b := newServeBed(t, serveBedOptions{others: []string{other}})
	applyManifest(t, clientsFor(t, other), "../../deploy/dashboard/roles.yaml", other)
	bindRole(t, other, b.ns, "approver", "cutover-approver")
	createServiceAccount(t, b.ns, "outsider", "")
	bindRole(t, other, b.ns, "outsider", "cutover-viewer")
	outsider := saToken(t, b.ns, "outsider")
	for _, w := range [][2]string{{b.ns, "viewer"}, {b.ns, "approver"}, {other, "approver"}, {other, "outsider"}} {
		waitAllowed(t, w[0], b.ns, w[1])
	}
	storeRecord(t, b.ns, "alpha", release.OutcomeSucceeded, nil)
	storeRecord(t, other, "beta", release.OutcomeRunning, &release.Approval{State: release.ApprovalPending})

	alpha, beta := `href="`+appPath(b.ns, "alpha")+`"`, `href="`+appPath(other, "beta")+`"`
	cases := []struct {
		name, token string
		shown       []string
		hidden      []string
	}{
		{"viewer of the first", b.tokens["viewer"], []string{alpha, "namespace " + b.ns + "<"}, []string{beta, other}},
		{"viewer of the second", outsider, []string{beta, "namespace " + other + "<"}, []string{alpha}},
		{"approver of both", b.tokens["approver"], []string{alpha, beta, "namespaces " + b.ns + ", " + other}, nil},
	}
	for _, c := range cases {
		resp, page := b.do(t, http.MethodGet, "/", c.token, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: GET /: %d, want 200", c.name, resp.StatusCode)
		}
		for _, want := range c.shown {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the apps view lacks %q", c.name, want)
			}
		}
		for _, hide := range c.hidden {
			if strings.Contains(page, hide) {
				t.Errorf("%s: the apps view shows %q", c.name, hide)
			}
		}
	}
	if resp, _ := b.do(t, http.MethodGet, appPath(other, "beta"), b.tokens["viewer"], nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the first namespace's viewer GET %s: %d, want 403", appPath(other, "beta"), resp.StatusCode)
	}
	if resp, page := b.do(t, http.MethodGet, appPath(other, "beta"), b.tokens["approver"], nil); resp.StatusCode != http.StatusOK || disabledButton(page, ">Approve</button>") {
		t.Errorf("the approver's page of %s/beta: %d, want 200 with Approve enabled:\n%s", other, resp.StatusCode, page)
	}
	if resp, page := b.do(t, http.MethodGet, "/", b.tokens["stranger"], nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "namespaces "+b.ns+", "+other) {
		t.Errorf("a person without a Role: GET / %d, want 403 naming both namespaces:\n%s", resp.StatusCode, page)
	}

	// /metrics, which nobody signs in to, describes the namespaces the
	// dashboard's own identity may read: none until metrics.yaml grants
	// it the first (at the next scrape, without a restart).
	alphaReleases := map[string]string{"namespace": b.ns, "app": "alpha", "strategy": engine.BlueGreen, "outcome": release.OutcomeSucceeded}
	if m := find(scrapeFrom(t, b.client, b.url+"/metrics")["cutover_releases"], alphaReleases); m != nil {
		t.Errorf("/metrics before metrics.yaml: %v, want no release figures", m)
	}
	applyManifest(t, clientsFor(t, b.ns), "../../deploy/dashboard/metrics.yaml", b.ns)
	waitAllowed(t, b.ns, b.ns, "cutover-dashboard")
	families := scrapeFrom(t, b.client, b.url+"/metrics")
	if m := find(families["cutover_releases"], alphaReleases); m == nil || m.GetGauge().GetValue() != 1 {
		t.Errorf("/metrics after metrics.yaml: cutover_releases%v is %v, want 1", alphaReleases, m)
	}
	for _, m := range families["cutover_releases"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "namespace" && l.GetValue() == other {
				t.Errorf("/metrics describes %s, which metrics.yaml did not grant: %v", other, m)
			}
		}
	}

	// The first namespace's viewer hears of alpha's change, never beta's,
	// though beta changes first.
	events := changesFrom(t, b.client, b.url, []string{proxyHeader, b.tokens["viewer"]})
	storeRecord(t, other, "beta", release.OutcomeSucceeded, nil)
	storeRecord(t, b.ns, "alpha", release.OutcomeSucceeded, nil)
	select {
	case got := <-events:
		if got != b.ns+"/alpha" {
			t.Errorf("the viewer's first change event: %q, want %s/alpha", got, b.ns)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no change event of %s/alpha within 10s", b.ns)
	}
}
