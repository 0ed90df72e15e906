package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserServeMode: in Chromium, over TLS, under a root path (as
// behind an ingress that passes /tools/cutover on), people sign in to
// serve mode through its form with their own tokens. The viewer sees the
// waiting release with Approve disabled; after signing out, the approver
// signs in and approves by click: production switches, and the record
// names the approver, whom the dashboard impersonated.
func TestBrowserServeMode(t *testing.T) {
	t.Parallel()
	b := newServeBed(t, serveBedOptions{rootPath: "/tools/cutover"})
	// Chromium trusts the test server's key and no other: the hash of
	// its public key, as the flag takes it.
	spki := sha256.Sum256(b.cert.RawSubjectPublicKeyInfo)
	bctx := browser(t, chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
	done := waitingRelease(t, b.ns)
	page := b.url + appPath(b.ns, app)

	signIn(t, bctx, b.url, b.tokens["viewer"], "serve-signin")
	do(t, bctx, 30*time.Second, "open the release as the viewer", chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS("body[data-synced] button.approve")))
	screenshot(t, bctx, "serve-viewer")
	if got := value(t, bctx, 5*time.Second, "read Approve", chromedp.AttributeValue(chromedp.CSS("button.approve"), "disabled")); !got.Exists {
		t.Errorf("the viewer's Approve button is enabled, want disabled")
	}
	if name := value(t, bctx, 5*time.Second, "read who is signed in", chromedp.Text(chromedp.CSS("header .user"))); name != "system:serviceaccount:"+b.ns+":viewer" {
		t.Errorf("the page names %q as signed in, want the viewer", name)
	}
	do(t, bctx, 30*time.Second, "sign out", chromedp.Click(chromedp.CSS("form.who button")), chromedp.WaitVisible(chromedp.CSS("#token")))

	signIn(t, bctx, b.url, b.tokens["approver"], "")
	do(t, bctx, 30*time.Second, "open the release as the approver", chromedp.Navigate(page),
		chromedp.WaitEnabled(chromedp.CSS("body[data-synced] button.approve")))
	confirmInBrowser(t, bctx, "approve", "approved in the browser", func(string) {})
	waitRun(t, done, "the approved release")
	if got := prodColor(t, b.ns); got != "green" {
		t.Errorf("production selects %s after the approval, want green", got)
	}
	rec := latestRecord(t, b.ns, app)
	if a := rec.Approval; a == nil || a.By != "system:serviceaccount:"+b.ns+":approver" || a.Comment != "approved in the browser" {
		t.Errorf("the record's approval %+v, want the approver's, with the comment typed", a)
	}
}

// signIn opens the dashboard at base, which sends a browser without a
// session to the sign-in form, and signs in with token; with shot, it
// saves a screenshot of the form by that name first.
func signIn(t *testing.T, bctx context.Context, base, token, shot string) {
	t.Helper()
	do(t, bctx, 30*time.Second, "open the sign-in form", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if shot != "" {
		screenshot(t, bctx, shot)
	}
	do(t, bctx, 30*time.Second, "sign in", chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("form.signin button")), chromedp.WaitVisible(chromedp.CSS("header .user")))
}
