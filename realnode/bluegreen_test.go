package realnode

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"text/template"
	"time"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// colors are the article's blue/green files, as templates of the app's
// behaviour; cutover substitutes TARGET_ROLE and TOMCAT_VERSION.
var colors = template.Must(template.New("colors").Parse(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-${TARGET_ROLE}
spec:
  replicas: {{.Replicas}}
  selector:
    matchLabels: {app: web, role: "${TARGET_ROLE}"}
  template:
    metadata:
      labels: {app: web, role: "${TARGET_ROLE}"}
    spec:
      nodeSelector: {type: real}
      containers:
      - name: web
        image: tomcat:${TOMCAT_VERSION}
        ports:
        - containerPort: 8080
        env:
        - {name: ON_SIGTERM, value: "{{.OnSigterm}}"}
        - {name: DRAIN_AFTER, value: "{{.DrainAfter}}"}
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
{{- if .PreStopSleep}}
        lifecycle:
          preStop:
            sleep: {seconds: {{.PreStopSleep}}}
{{- end}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web, role: "${TARGET_ROLE}"}
  ports:
  - {port: 80, targetPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: web-test-${TARGET_ROLE}
spec:
  selector: {app: web, role: "${TARGET_ROLE}"}
  ports:
  - {port: 80, targetPort: 8080}
`))

// TestBlueGreenSwitch releases Tomcat 7, then 8, with cutover's blue/green
// strategy on the real node while the users' host sends requests through
// production's ClusterIP, new connections, kept-alive ones and (with an
// app that drains) HTTP/2, and measures how long each kind still reached
// the old color after cutover switched the Service.
func TestBlueGreenSwitch(t *testing.T) {
	testbed.RequireRealNode(t)
	cases := []struct {
		name   string
		app    app
		delay  string // --scale-down-delay
		hazard string
		fails  bool
		http2  bool // HTTP/2 users too
	}{
		// The apps drain on SIGTERM: they close their kept-alive
		// connections with a FIN. An app that exits at once resets those
		// with a request unread, and a user's new connection that reuses
		// such a connection's port within 10 s goes to the exiting pod and
		// is refused (TestResetConnectionKeepsItsRoute): no switch can
		// promise that app zero failures.
		{name: "preStop, app drains, scale-down after 5s", app: app{Replicas: 2, OnSigterm: "drain", PreStopSleep: 3}, delay: "5s"},
		// The pre-flight still warns: pods leave production outside deploys
		// too (scale-in, drains, evictions). The switch itself is safe:
		// new connections leave the old color within a fraction of a
		// second, long before the scale-down, and the kept-alive ones are
		// closed by the draining app, their requests done.
		{name: "no preStop, app drains at once, scale-down after 2s", app: app{Replicas: 2, OnSigterm: "drain"}, delay: "2s",
			hazard: "no-prestop"},
		// An HTTP/2 connection carries every request of its client: a
		// selector switch does not move it. It stays on the old color
		// until the old pod's server sends GOAWAY as it drains, after the
		// scale-down delay and the preStop; the client then reconnects to
		// the new color, and retries what the GOAWAY refused. (An app that
		// exits at once instead drops the requests in flight on it.)
		{name: "app drains, HTTP/2 clients, scale-down after 5s", app: app{Replicas: 2, OnSigterm: "drain", PreStopSleep: 3},
			delay: "5s", http2: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			ns := cluster.Namespace(t)
			bg := newBlueGreen(t, ns, tc.app, tc.delay)
			if r := bg.deploy(ctx, "7"); r.exit != 0 {
				t.Fatalf("deploy 7: exit %d\n%s", r.exit, r.log())
			}
			u := startUsers(ctx, userOptions{URL: clusterURL(ctx, t, ns), Dial: cluster.DialUser, HTTP2: tc.http2})
			time.Sleep(time.Second)
			r := bg.deploy(ctx, "8")
			time.Sleep(5 * time.Second)
			if tc.http2 {
				time.Sleep(5 * time.Second) // past the old pods' GOAWAY
			}
			res := u.done()
			if r.exit != 0 {
				t.Fatalf("deploy 8: exit %d\n%s", r.exit, r.log())
			}
			switched, ok := r.finished("Switch")
			if !ok {
				t.Fatalf("no Switch stage:\n%s", r.log())
			}
			kinds := []string{fresh, kept}
			if tc.http2 {
				kinds = append(kinds, h2)
			}
			failed := 0
			for _, k := range kinds {
				l := res.by[k]
				t.Logf("%s: %s; the old color answered requests sent up to %s after the switch", k, l,
					l.LastSent["Tomcat/7"].Sub(switched).Round(time.Millisecond))
				if l.Versions["Tomcat/8"] == 0 {
					t.Errorf("no request of the %s users reached Tomcat 8: %s", k, l)
				}
				failed += l.Failures
			}
			switch {
			case tc.fails && failed == 0:
				t.Errorf("no request failed: the hazard %q did not show on the real node", tc.hazard)
			case !tc.fails && failed > 0:
				t.Errorf("%d requests failed: %s", failed, res.failures())
			}
			warned := false
			for _, w := range r.warnings("zero-downtime") {
				warned = warned || w.Action == tc.hazard
				if tc.hazard == "" {
					t.Errorf("the pre-flight warned about a safe release: %+v", w)
				}
			}
			if tc.hazard != "" && !warned {
				t.Errorf("the pre-flight did not warn %q", tc.hazard)
			}
		})
	}
}

// blueGreen releases the colors template of an app with cutover's
// blue/green strategy, scaling the old color down after delay.
type blueGreen struct {
	t        *testing.T
	ns, file string
	delay    string
}

func newBlueGreen(t *testing.T, ns string, a app, delay string) *blueGreen {
	t.Helper()
	file := filepath.Join(t.TempDir(), "web.yaml")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := colors.Execute(f, a); err != nil {
		t.Fatal(err)
	}
	return &blueGreen{t: t, ns: ns, file: file, delay: delay}
}

// deploy releases a Tomcat version, with extra flags.
func (b *blueGreen) deploy(ctx context.Context, version string, extra ...string) *run {
	return b.deployWatched(ctx, nil, version, extra...)
}

// deployWatched is deploy, calling onEvent with each event as it comes.
func (b *blueGreen) deployWatched(ctx context.Context, onEvent func(event.Event), version string, extra ...string) *run {
	args := append([]string{"deploy", "--strategy", "blue-green", "--service", "web", "-f", b.file,
		"--var", "TOMCAT_VERSION=" + version, "--idle-policy", "scale-down", "--scale-down-delay", b.delay, "--timeout", "2m"}, extra...)
	return cutoverWatched(ctx, b.t, b.ns, onEvent, args...)
}

// TestBlueGreenScaleDownUnderDataPlaneLag is the case the pre-flight's
// scale-down-too-soon rule is about: a data plane slower than kube-proxy
// here (an ingress controller, a cloud load balancer) still sends new
// connections to the old color after the switch. kube-proxy is frozen
// from before the switch until 3 s after it, keeping its old rules; the
// old color, scaled down 10 ms after the switch, stops accepting once its
// 1 s preStop ends, and the users' new connections to it fail. With the
// 5 s the rule asks for, none does.
func TestBlueGreenScaleDownUnderDataPlaneLag(t *testing.T) {
	testbed.RequireRealNode(t)
	const lag = 3 * time.Second
	cases := []struct {
		delay  string
		hazard string
		fails  bool
	}{
		{delay: "10ms", hazard: "scale-down-too-soon", fails: true},
		{delay: "5s"},
	}
	for _, tc := range cases {
		t.Run("scale-down after "+tc.delay, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			ns := cluster.Namespace(t)
			bg := newBlueGreen(t, ns, app{Replicas: 2, OnSigterm: "drain", PreStopSleep: 1}, tc.delay)
			if r := bg.deploy(ctx, "7"); r.exit != 0 {
				t.Fatalf("deploy 7: exit %d\n%s", r.exit, r.log())
			}
			u := startUsers(ctx, userOptions{URL: clusterURL(ctx, t, ns), Dial: cluster.DialUser})
			time.Sleep(time.Second)
			slow := &lagging{t: t, lag: lag}
			defer slow.thaw()
			r := bg.deployWatched(ctx, slow.onEvent, "8")
			time.Sleep(8 * time.Second)
			res := u.done()
			if r.exit != 0 {
				t.Fatalf("deploy 8: exit %d\n%s", r.exit, r.log())
			}
			if slow.frozen == nil {
				t.Fatalf("kube-proxy was never frozen:\n%s", r.log())
			}
			res.log(t, "")
			l := res.by[fresh]
			switch {
			case tc.fails && l.Failures == 0:
				t.Errorf("no new connection failed: the hazard %q did not show", tc.hazard)
			case !tc.fails && res.failed() > 0:
				t.Errorf("%d requests failed: %s", res.failed(), res.failures())
			}
			rules := rulesOf(r.warnings("zero-downtime"))
			if want := []string{tc.hazard}; tc.hazard != "" && !slices.Equal(rules, want) || tc.hazard == "" && len(rules) > 0 {
				t.Errorf("the pre-flight warned %v, want %v", rules, want)
			}
		})
	}
}

// lagging freezes kube-proxy once cutover deployed the new color (before
// the switch) and thaws it lag after the switch.
type lagging struct {
	t      *testing.T
	lag    time.Duration
	frozen *testbed.Frozen
	timer  *time.Timer
}

func (l *lagging) onEvent(e event.Event) {
	switch {
	case e.Type == event.StageFinished && e.Stage == "Deploy" && l.frozen == nil:
		f, err := cluster.Freeze(testbed.KubeProxy)
		if err != nil {
			l.t.Errorf("freeze kube-proxy: %v", err)
			return
		}
		l.frozen = f
	case e.Type == event.StageFinished && e.Stage == "Switch" && l.frozen != nil && l.timer == nil:
		l.timer = time.AfterFunc(l.lag, l.thaw)
	}
}

func (l *lagging) thaw() {
	if l.frozen != nil {
		if _, err := l.frozen.Thaw(); err != nil {
			l.t.Errorf("thaw kube-proxy: %v", err)
		}
	}
}
