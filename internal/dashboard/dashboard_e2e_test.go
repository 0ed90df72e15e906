package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

// A release waiting at Confirm shows up live, and the person's decision,
// posted from the dashboard, reaches the real run: it switches production
// or leaves it untouched, and the record names who decided.
func TestDecideWaitingRelease(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		action    string
		wantColor string
		wantState string
		wantErr   error // of the run
	}{
		{"approve", "approve", "green", release.ApprovalApproved, nil},
		{"reject", "reject", "blue", release.ApprovalRejected, engine.ErrRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			clients := clientsFor(t, ns)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := deployBlueGreen(ctx, clients, "7", nil); err != nil {
				t.Fatalf("first deploy: %v", err)
			}
			srv := newDashboard(t, clients, "alice")
			events := changes(t, srv.URL)
			done := make(chan error, 1)
			go func() { done <- deployBlueGreen(ctx, clients, "8", &engine.Approval{Timeout: 2 * time.Minute}) }()

			waitForPage(t, srv.URL+"/", `<span class="marker">waiting for approval</span>`, events, done)
			_, page := get(t, srv.URL+appPath(ns, app)+"/"+tc.action)
			token := csrfToken(t, page)
			refuseForgedDecisions(t, srv.URL, ns)

			drain(events)
			comment := `checked "the test URL" <b>`
			resp, _ := post(t, srv.URL+appPath(ns, app)+"/"+tc.action, url.Values{"csrf": {token}, "comment": {comment}})
			posted := time.Now()
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps/"+ns+"/"+app {
				t.Fatalf("POST %s: %d, Location %q; want 303 to /apps/%s/%s", tc.action, resp.StatusCode, resp.Header.Get("Location"), ns, app)
			}
			if !nextChange(events, ns+"/"+app, time.Second) {
				t.Errorf("no change event of %s within 1s of the decision", app)
			}
			t.Logf("change event %s after the decision", time.Since(posted).Round(time.Millisecond))

			if err := <-done; !errors.Is(err, tc.wantErr) {
				t.Fatalf("the run ended with %v, want %v", err, tc.wantErr)
			}
			if got := prodColor(t, ns); got != tc.wantColor {
				t.Errorf("production selects %s, want %s", got, tc.wantColor)
			}
			rec := latestRecord(t, ns, app)
			if a := rec.Approval; a == nil || a.State != tc.wantState || a.By != "alice" || a.Comment != comment {
				t.Errorf("record's approval %+v, want %s by alice with comment %q", a, tc.wantState, comment)
			}
			assertDecisionShown(t, srv.URL, events, rec)
		})
	}
}

// refuseForgedDecisions posts decisions without the form's token, and
// with a wrong one, and sends a GET to the actions (their confirmation
// pages): the posts are refused, and nothing changes the record.
func refuseForgedDecisions(t *testing.T, base, ns string) {
	t.Helper()
	cases := []struct {
		name   string
		method string
		form   url.Values
		want   int
	}{
		{"without a token", http.MethodPost, url.Values{"comment": {"forged"}}, http.StatusForbidden},
		{"with a wrong token", http.MethodPost, url.Values{"csrf": {"not-the-token"}}, http.StatusForbidden},
		{"with an empty token", http.MethodPost, url.Values{"csrf": {""}}, http.StatusForbidden},
		{"a GET (the confirmation page)", http.MethodGet, nil, http.StatusOK},
	}
	for _, action := range []string{"approve", "reject"} {
		for _, tc := range cases {
			u := base + appPath(ns, app) + "/" + action
			var code int
			if tc.method == http.MethodGet {
				code, _ = get(t, u)
			} else {
				resp, _ := post(t, u, tc.form)
				code = resp.StatusCode
			}
			if code != tc.want {
				t.Errorf("%s (%s): status %d, want %d", tc.name, action, code, tc.want)
			}
		}
	}
	rec := latestRecord(t, ns, app)
	if a := rec.Approval; a == nil || a.State != release.ApprovalPending || a.By != "" || rec.Outcome != release.OutcomeRunning {
		t.Fatalf("after forged decisions the record's approval is %+v, outcome %s; want pending, running", a, rec.Outcome)
	}
}

// assertDecisionShown checks that the app's page, once its records have
// settled, names who decided with the comment escaped, and a finished
// timeline.
func assertDecisionShown(t *testing.T, base string, events <-chan string, rec *release.Record) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var body string
	for {
		_, body = get(t, base+appPath(rec.Namespace, app))
		if strings.Contains(body, "by <strong>alice</strong>") && strings.Contains(body, `outcome-`+rec.Outcome+`">`+rec.Outcome) &&
			!strings.Contains(body, "stage-running") {
			break
		}
		if !nextChange(events, rec.Namespace+"/"+app, time.Until(deadline)) {
			t.Fatalf("the app's page never showed the decision and the finished run:\n%s", body)
		}
	}
	for _, want := range []string{"checked &#34;the test URL&#34; &lt;b&gt;", "Confirm", "History"} {
		if !strings.Contains(body, want) {
			t.Errorf("the app's page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>") || strings.Contains(body, "/approve") || strings.Contains(body, "/reject") {
		t.Errorf("the app's page shows raw markup of the comment, or the decision's form, after the decision:\n%s", body)
	}
}
