package dashboard

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

const (
	scriptTag = `<script>alert(1)</script>`
	imgTag    = `"><img src=x onerror=alert(1)>`
)

// storeHostileRecord stores a record of app whose every free text holds
// markup, as if people had written it: a comment, who decided, images
// and an error.
func storeHostileRecord(t *testing.T, ns, app string, outcome string, approval *release.Approval) {
	t.Helper()
	r := &release.Record{
		App: app, Strategy: engine.BlueGreen, FromColor: "blue", ToColor: "green",
		Images: []string{"tomcat:8" + imgTag, scriptTag}, Outcome: outcome, Error: scriptTag + imgTag,
		Approval: approval,
		Stages:   []release.Stage{{Name: "Deploy" + scriptTag, Status: release.StageSucceeded}},
	}
	if err := release.NewStore(cluster.Client, ns).Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// What people wrote renders as text, never as markup, in every view.
func TestEscapesWhatPeopleWrote(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	storeHostileRecord(t, ns, "hostile", release.OutcomeFailed,
		&release.Approval{State: release.ApprovalRejected, By: imgTag, Comment: scriptTag + " and " + imgTag})
	storeHostileRecord(t, ns, "waiting", release.OutcomeRunning,
		&release.Approval{State: release.ApprovalPending, Comment: scriptTag})
	srv := newDashboard(t, clientsFor(t, ns), imgTag)
	escaped := []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"}
	for _, path := range []string{"/", appPath(ns, "hostile"), appPath(ns, "waiting"), appPath(ns, "waiting") + "/approve"} {
		t.Run(path, func(t *testing.T) {
			code, body := get(t, srv.URL+path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d", path, code)
			}
			for _, raw := range []string{"<script>alert", "<img", "onerror=alert(1)>"} {
				if strings.Contains(body, raw) {
					t.Errorf("GET %s holds raw markup %q", path, raw)
				}
			}
			for _, want := range escaped {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s lacks the escaped text %q", path, want)
				}
			}
			if strings.Count(body, "<script") != 1 || !strings.Contains(body, `<script src="/static/live.js" defer></script>`) {
				t.Errorf("GET %s: want exactly one script, the live one, from /static/", path)
			}
		})
	}
}

// Every response carries the security headers, errors included.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	storeHostileRecord(t, ns, "hostile", release.OutcomeSucceeded, nil)
	storeHostileRecord(t, ns, "waiting", release.OutcomeRunning, &release.Approval{State: release.ApprovalPending})
	srv := newDashboard(t, clientsFor(t, ns), "alice")
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	}
	cases := []struct {
		method, path string
		code         int
		contentType  string
		body         string // a fragment of the body, if any
		host         string // the Host header, if not the server's
	}{
		// DNS rebinding: a name of the attacker's that points at 127.0.0.1.
		{"GET", "/", http.StatusMisdirectedRequest, "text/plain; charset=utf-8", "loopback address only", "evil.example:80"},
		{"GET", "/", http.StatusOK, "text/html; charset=utf-8", "hostile", "localhost"},
		{"GET", "/", http.StatusOK, "text/html; charset=utf-8", "hostile", ""},
		{"GET", appPath(ns, "hostile"), http.StatusOK, "text/html; charset=utf-8", "History", ""},
		{"GET", appPath(ns, "nobody"), http.StatusNotFound, "text/html; charset=utf-8", "No release records of app nobody", ""},
		{"GET", "/apps/hostile", http.StatusSeeOther, "text/html; charset=utf-8", appPath(ns, "hostile"), ""},
		{"GET", "/apps/nobody", http.StatusNotFound, "text/html; charset=utf-8", "No release records of app nobody", ""},
		{"GET", appPath("elsewhere", "hostile"), http.StatusNotFound, "text/html; charset=utf-8", "does not show namespace elsewhere", ""},
		{"GET", "/healthz", http.StatusOK, "text/plain; charset=utf-8", "ok", ""},
		{"GET", "/static/live.js", http.StatusOK, "text/javascript; charset=utf-8", "new EventSource(", ""},
		{"GET", "/static/style.css", http.StatusOK, "text/css; charset=utf-8", ".marker", ""},
		{"GET", appPath(ns, "hostile") + "/approve", http.StatusConflict, "text/html; charset=utf-8", "does not take approve now", ""},
		{"GET", appPath(ns, "waiting") + "/approve", http.StatusOK, "text/html; charset=utf-8", `action="` + appPath(ns, "waiting") + `/approve"`, ""},
		{"GET", appPath(ns, "waiting") + "/launch", http.StatusNotFound, "text/html; charset=utf-8", "No action launch", ""},
		{"POST", appPath(ns, "hostile") + "/approve", http.StatusForbidden, "text/html; charset=utf-8", "token is missing or wrong", ""},
		{"GET", "/no/such/page", http.StatusNotFound, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.code)
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if ct := resp.Header.Get("Content-Type"); tc.contentType != "" && ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(string(b), tc.body) {
				t.Errorf("body lacks %q:\n%s", tc.body, b)
			}
		})
	}
}
