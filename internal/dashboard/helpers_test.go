package dashboard

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
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

const app = "tomcat-service"

// clientsFor returns clients for namespace ns of the test bed.
func clientsFor(t testing.TB, ns string) *kube.Clients {
	t.Helper()
	c, err := kube.ForConfig(cluster.Config, ns, true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newDashboard starts a dashboard of the namespaces (none: clients'
// namespace), acting as by, behind a test HTTP server; both stop with the
// test.
func newDashboard(t *testing.T, clients *kube.Clients, by string, namespaces ...string) *httptest.Server {
	t.Helper()
	return newDashboardWith(t, Options{Clients: clients, Namespaces: namespaces, By: by, Loopback: true})
}

// newDashboardWith is newDashboard with the options given, and the
// server's log in the test's.
func newDashboardWith(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	s, err := New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv
}

// testWriter sends the server's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// render loads the article's blue/green files for version and color.
func render(ctx context.Context, version, color string) ([]manifest.Object, error) {
	vars := manifest.NewVars()
	for _, kv := range []string{"TOMCAT_VERSION=" + version, "TARGET_ROLE=" + color} {
		if err := vars.Set(kv); err != nil {
			return nil, err
		}
	}
	set, err := manifest.Load(ctx, manifest.Options{Paths: []string{"../../examples/blue-green/"}, Vars: vars})
	if err != nil {
		return nil, err
	}
	return set.Objects, nil
}

// deployBlueGreen releases the article's tomcat version with the real
// engine, as `cutover deploy --strategy blue-green` does; with approval
// set, the run waits at Confirm.
func deployBlueGreen(ctx context.Context, clients *kube.Clients, version string, approval *engine.Approval) error {
	return deployBlueGreenWith(ctx, clients, version, approval)
}

// deployBlueGreenWith is deployBlueGreen with extra objects in the files.
func deployBlueGreenWith(ctx context.Context, clients *kube.Clients, version string, approval *engine.Approval, extra ...manifest.Object) error {
	objs, err := render(ctx, version, "blue")
	if err != nil {
		return err
	}
	return engine.Deploy(ctx, engine.DeployRequest{
		Run:      engine.Run{Clients: clients, App: app, Sink: event.Discard},
		Strategy: engine.BlueGreen, Objects: append(objs, extra...),
		Render: func(ctx context.Context, color string) ([]manifest.Object, error) {
			objs, err := render(ctx, version, color)
			return append(objs, extra...), err
		},
		BlueGreen: engine.BlueGreenSettings{Service: app, SelectorKey: "role", Colors: [2]string{"blue", "green"},
			IdlePolicy: strategy.IdleKeep, ScaleDownDelay: 100 * time.Millisecond},
		Approval:        approval,
		Checks:          engine.CheckPlan{RoleVar: "TARGET_ROLE"},
		RollbackTimeout: time.Minute,
	})
}

// prodColor is the color the production Service selects.
func prodColor(t *testing.T, ns string) string {
	t.Helper()
	svc, err := cluster.Client.CoreV1().Services(ns).Get(context.Background(), app, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Selector["role"]
}

// latestRecord reads app's newest record from the cluster.
func latestRecord(t *testing.T, ns, app string) *release.Record {
	t.Helper()
	r, err := release.NewStore(cluster.Client, ns).Latest(context.Background(), app)
	if err != nil || r == nil {
		t.Fatalf("latest record of %s: %v, %v", app, r, err)
	}
	return r
}

// noRedirects is a client that returns redirects instead of following
// them.
var noRedirects = &http.Client{
	Timeout:       time.Minute,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := noRedirects.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// post posts form to url and returns the response, its body read.
func post(t *testing.T, url string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirects.PostForm(url, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfToken reads the form token from a page.
func csrfToken(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return m[1]
}

// changes connects to the server's event stream and returns the apps
// (NAMESPACE/APP) of its "change" events, as they arrive. The stream ends
// with the test.
func changes(t *testing.T, base string) <-chan string {
	t.Helper()
	return changesFrom(t, http.DefaultClient, base, nil)
}

// changesFrom is changes through client, with the headers given as
// name, value pairs.
func changesFrom(t *testing.T, client *http.Client, base string, header []string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("GET /events: %d, Content-Type %q", resp.StatusCode, ct)
	}
	out := make(chan string, 1000)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && name == "change":
				out <- strings.TrimPrefix(line, "data: ")
			case line == "":
				name = ""
			}
		}
	}()
	return out
}

// drain empties ch of what has arrived so far.
func drain(ch <-chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// nextChange waits up to within for a change event of app, named
// NAMESPACE/APP.
func nextChange(ch <-chan string, app string, within time.Duration) bool {
	deadline := time.After(within)
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				return false
			}
			if got == app {
				return true
			}
		case <-deadline:
			return false
		}
	}
}
