package dashboard

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

// ScreenshotsEnv names a directory the browser tests save their
// screenshots to (the README's come from there); default the test's
// temporary directory.
const ScreenshotsEnv = "CUTOVER_SCREENSHOTS"

// browser starts a headless Chromium for the test, as root on a machine
// without a display or a network: no sandbox, no GPU, none of its
// background connections, a fresh profile; and the extra options.
func browser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("needs Debian's chromium: make test installs it (upstream/browser-deps.sh)")
	}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900)}, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline: see chromedp.Run
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser steps, bounded by d.
func do(t testing.TB, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.querySelector('main').outerHTML`))
		t.Fatalf("%s: %v; the page's main:\n%s", what, err, html)
	}
}

// value runs one browser action for its value, bounded by d.
func value[T any](t testing.TB, ctx context.Context, d time.Duration, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the page as name.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := value(t, ctx, 10*time.Second, "screenshot", chromedp.FullScreenshot(100))
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// TestBrowserDecidesAWaitingRelease: in Chromium, the apps view shows a
// release that starts waiting at Confirm without a reload, within a
// second of its run reaching Confirm; a click on Approve switches
// production (the Service's selector and its ready endpoints are green's
// pods), a click on Reject leaves it on blue; the release's page then
// shows the finished timeline, live, and who decided.
func TestBrowserDecidesAWaitingRelease(t *testing.T) {
	t.Parallel()
	cases := []struct {
		button, color string
		runErr        error
		shots         bool // the README's screenshots
	}{
		{"approve", "green", nil, true},
		{"reject", "blue", engine.ErrRejected, false},
	}
	for _, tc := range cases {
		t.Run(tc.button, func(t *testing.T) {
			t.Parallel()
			decideInBrowser(t, tc.button, tc.color, tc.runErr, tc.shots)
		})
	}
}

func decideInBrowser(t *testing.T, button, color string, runErr error, shots bool) {
	bctx := browser(t)
	ns := cluster.Namespace(t)
	clients := clientsFor(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := deployBlueGreen(ctx, clients, "7", nil); err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	srv := newDashboard(t, clients, "alice")
	shot := func(name string) {
		if shots {
			screenshot(t, bctx, name)
		}
	}
	row := `[id="app-` + ns + "/" + app + `"]`
	do(t, bctx, 30*time.Second, "open the apps view", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(row)))
	value(t, bctx, 5*time.Second, "mark the page", chromedp.Evaluate[bool](`window.stillThisPage = true`))

	done := make(chan error, 1)
	go func() { done <- deployBlueGreen(ctx, clients, "8", &engine.Approval{Timeout: 2 * time.Minute}) }()
	do(t, bctx, 2*time.Minute, "see the release wait", chromedp.WaitVisible(chromedp.CSS(row+" span.marker")))
	seen := time.Now()
	if !value(t, bctx, 5*time.Second, "check the page was not reloaded", chromedp.Evaluate[bool](`window.stillThisPage === true`)) {
		t.Error("the apps view was reloaded to show the waiting release")
	}
	if at := confirmStarted(t, ns); seen.Sub(at) > time.Second {
		t.Errorf("the waiting release showed %s after its run reached Confirm, want within 1s", seen.Sub(at).Round(time.Millisecond))
	} else {
		t.Logf("the waiting release showed %s after its run reached Confirm", seen.Sub(at).Round(time.Millisecond))
	}
	shot("apps-waiting")

	// The page fetches itself again once its event stream opens (live.js),
	// which replaces the nodes: act once it has.
	do(t, bctx, 30*time.Second, "open the release", chromedp.Navigate(srv.URL+appPath(ns, app)),
		chromedp.WaitVisible(chromedp.CSS("body[data-synced] button."+button)))
	shot("release-confirm")
	confirmInBrowser(t, bctx, button, "checked the test URL", shot)
	if err := <-done; !errors.Is(err, runErr) {
		t.Fatalf("the release's run ended with %v, want %v", err, runErr)
	}
	if got := prodColor(t, ns); got != color {
		t.Errorf("production selects %s, want %s", got, color)
	}
	for _, pod := range readyEndpoints(t, ns) {
		if !strings.Contains(pod, "-"+color+"-") {
			t.Errorf("production routes to %s, not a %s pod", pod, color)
		}
	}
	rec := latestRecord(t, ns, app)
	do(t, bctx, 30*time.Second, "see the finished timeline", chromedp.WaitVisible(chromedp.CSS("#summary .outcome-"+rec.Outcome)),
		chromedp.WaitNotPresent(chromedp.CSS("li.stage-running")), chromedp.WaitVisible(chromedp.CSS("#approval strong")))
	shot("release-done")
	if rec.Approval == nil || rec.Approval.By != "alice" || rec.Approval.Comment != "checked the test URL" {
		t.Errorf("the record's approval %+v, want alice's with the comment typed", rec.Approval)
	}
}

// confirmStarted is when the app's running release reached Confirm.
func confirmStarted(t *testing.T, ns string) time.Time {
	t.Helper()
	rec := latestRecord(t, ns, app)
	for _, s := range rec.Stages {
		if s.Name == "Confirm" && s.Status == release.StageRunning {
			return s.Started
		}
	}
	t.Fatalf("the latest record is not at Confirm: %+v", rec.Stages)
	return time.Time{}
}

// readyEndpoints are the pods the production Service's EndpointSlices
// list as ready; at least one.
func readyEndpoints(t *testing.T, ns string) []string {
	t.Helper()
	list, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready && e.TargetRef != nil {
				out = append(out, e.TargetRef.Name)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("production has no ready endpoint")
	}
	return out
}

// TestBrowserRendersWhatPeopleWroteAsText: in Chromium, markup in a
// record's comment, approver, images, error and stage names is text: the
// page has no element but its own (one script, no img), and the text reads
// as written.
func TestBrowserRendersWhatPeopleWroteAsText(t *testing.T) {
	t.Parallel()
	bctx := browser(t)
	ns := cluster.Namespace(t)
	storeHostileRecord(t, ns, "hostile", release.OutcomeFailed,
		&release.Approval{State: release.ApprovalRejected, By: imgTag, Comment: scriptTag})
	srv := newDashboard(t, clientsFor(t, ns), "alice")
	for _, path := range []string{"/", appPath(ns, "hostile")} {
		do(t, bctx, 30*time.Second, "open "+path, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main")))
		counts := value(t, bctx, 5*time.Second, "count the elements", chromedp.Evaluate[[]int](
			`[document.scripts.length, document.images.length, document.querySelectorAll('[onerror]').length]`))
		if len(counts) != 3 || counts[0] != 1 || counts[1] != 0 || counts[2] != 0 {
			t.Errorf("%s has %v scripts, images and onerror attributes; want the page's one script and none of the others", path, counts)
		}
		text := value(t, bctx, 5*time.Second, "read the text", chromedp.Evaluate[string](`document.querySelector('main').innerText`))
		if !strings.Contains(text, imgTag) {
			t.Errorf("%s does not read %q as text:\n%s", path, imgTag, text)
		}
	}
	if text := value(t, bctx, 5*time.Second, "read the comment", chromedp.Evaluate[string](`document.querySelector('#approval blockquote').innerText`)); text != scriptTag {
		t.Errorf("the comment reads %q, want %q", text, scriptTag)
	}
}

// confirmInBrowser clicks the release page's button, and on the action's
// confirmation page types the comment and clicks the action's button;
// shot saves the confirmation page's screenshot.
func confirmInBrowser(t *testing.T, bctx context.Context, button, comment string, shot func(string)) {
	t.Helper()
	do(t, bctx, 30*time.Second, "click "+button, chromedp.Click(chromedp.CSS("button."+button)),
		chromedp.WaitVisible(chromedp.CSS("body[data-synced] button.confirm")),
		chromedp.SendKeys(chromedp.CSS("#comment"), comment))
	shot("action-confirm-" + button)
	do(t, bctx, 30*time.Second, "confirm "+button, chromedp.Click(chromedp.CSS("button.confirm")))
}

// TestBrowserRollsBack: a click on Rollback takes production back to the
// previous release, as cutover rollback APP does: the Service selects
// blue again and routes to blue's pods, and the rollback's record, shown
// live, names who clicked.
func TestBrowserRollsBack(t *testing.T) {
	t.Parallel()
	bctx := browser(t)
	ns := cluster.Namespace(t)
	clients := clientsFor(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, version := range []string{"7", "8"} {
		if err := deployBlueGreen(ctx, clients, version, nil); err != nil {
			t.Fatalf("deploy %s: %v", version, err)
		}
	}
	if got := prodColor(t, ns); got != "green" {
		t.Fatalf("production selects %s after two releases, want green", got)
	}
	srv := newDashboard(t, clients, "alice")
	// The history's link to the second release's changes, for the
	// README's screenshot of the diff view.
	do(t, bctx, 30*time.Second, "open the changes of revision 2", chromedp.Navigate(srv.URL+appPath(ns, app)),
		chromedp.WaitVisible(chromedp.CSS("body[data-synced] a.diff")), chromedp.Click(chromedp.CSS("a.diff")),
		chromedp.WaitVisible(chromedp.CSS("pre.diff span.add")))
	screenshot(t, bctx, "history-diff")
	do(t, bctx, 30*time.Second, "open the release", chromedp.Navigate(srv.URL+appPath(ns, app)),
		chromedp.WaitVisible(chromedp.CSS("body[data-synced] button.rollback")))
	if text := value(t, bctx, 5*time.Second, "read the rollback form", chromedp.Text(chromedp.CSS("#rollback"))); !strings.Contains(text, "revision 1") {
		t.Errorf("the rollback form says %q, want it to name revision 1", text)
	}
	confirmInBrowser(t, bctx, "rollback", "back to blue", func(string) {})
	do(t, bctx, 2*time.Minute, "see the rollback", chromedp.WaitVisible(chromedp.CSS("#started-by")),
		chromedp.WaitVisible(chromedp.CSS("#summary .outcome-succeeded")))
	if got := value(t, bctx, 5*time.Second, "read the comment", chromedp.Text(chromedp.CSS("#comment-given"))); got != "back to blue" {
		t.Errorf("the rollback's page shows the comment %q, want the one typed", got)
	}
	if got := prodColor(t, ns); got != "blue" {
		t.Errorf("production selects %s after the rollback, want blue", got)
	}
	for _, pod := range readyEndpoints(t, ns) {
		if !strings.Contains(pod, "-blue-") {
			t.Errorf("production routes to %s, not a blue pod", pod)
		}
	}
	if rec := latestRecord(t, ns, app); rec.Strategy != engine.StrategyRollback || rec.By != "alice" || rec.Comment != "back to blue" || rec.Outcome != release.OutcomeSucceeded {
		t.Errorf("latest record: %s by %q (%q), %s; want a rollback by alice with her comment, succeeded", rec.Strategy, rec.By, rec.Comment, rec.Outcome)
	}
}
