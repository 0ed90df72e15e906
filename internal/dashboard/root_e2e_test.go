package dashboard

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/release"
)

// TestRootPath: a dashboard served under a root path, as behind a proxy
// that passes /cutover on, links, redirects and streams under it, and
// answers nothing outside it.
func TestRootPath(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	storeRecord(t, ns, "shop", release.OutcomeRunning, &release.Approval{State: release.ApprovalPending})
	srv := newDashboardWith(t, Options{Clients: clientsFor(t, ns), By: "alice", RootPath: "/cutover/", Loopback: true})
	base := srv.URL + "/cutover"
	shop := "/cutover" + appPath(ns, "shop")

	_, apps := get(t, base+"/")
	for _, want := range []string{`href="/cutover/static/style.css"`, `src="/cutover/static/live.js"`, `data-events="/cutover/events"`,
		`class="home" href="/cutover/"`, `href="` + shop + `"`} {
		if !strings.Contains(apps, want) {
			t.Errorf("the apps view lacks %s:\n%s", want, apps)
		}
	}
	if _, confirm := get(t, base+appPath(ns, "shop")+"/approve"); !strings.Contains(confirm, `action="`+shop+`/approve"`) {
		t.Errorf("the confirmation page does not post under the root:\n%s", confirm)
	}
	cases := []struct {
		path     string
		code     int
		location string
	}{
		{"/cutover", http.StatusMovedPermanently, "/cutover/"},
		{"/cutover/apps/shop", http.StatusSeeOther, shop},
		{"/cutover/static/live.js", http.StatusOK, ""},
		{"/", http.StatusNotFound, ""},
		{appPath(ns, "shop"), http.StatusNotFound, ""},
		{"/static/live.js", http.StatusNotFound, ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+c.path, nil)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Location") != c.location {
			t.Errorf("GET %s: %d to %q, want %d to %q", c.path, resp.StatusCode, resp.Header.Get("Location"), c.code, c.location)
		}
	}
	events := changes(t, base)
	storeRecord(t, ns, "shop", release.OutcomeSucceeded, nil)
	if !nextChange(events, ns+"/shop", 10*time.Second) {
		t.Errorf("no change event of %s/shop from the stream under the root", ns)
	}
}
