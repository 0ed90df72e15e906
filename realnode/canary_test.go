package realnode

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/testinfra/audit"
	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// outcomes keeps what the users' requests got, for the analysis to
// measure (the share that failed in the last second, as a Prometheus
// rate over a gateway's metrics would) and the test to judge.
type outcomes struct {
	mu   sync.Mutex
	list []sent
}

type sent struct {
	kind string
	dataplane.Outcome
}

func (o *outcomes) add(kind string, x dataplane.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.list = append(o.list, sent{kind, x})
}

func failed(x dataplane.Outcome) bool { return x.Err != "" || x.Status < 200 || x.Status > 299 }

// between counts the requests of the kinds (all with none) sent in
// [from, to), and those that failed.
func (o *outcomes) between(from, to time.Time, kinds ...string) (total, bad int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, x := range o.list {
		if len(kinds) > 0 && !slices.Contains(kinds, x.kind) {
			continue
		}
		if !x.Time.Before(from) && x.Time.Before(to) {
			total++
			if failed(x.Outcome) {
				bad++
			}
		}
	}
	return total, bad
}

// ServeHTTP answers {"share": F}: the share of the last second's requests
// that failed.
func (o *outcomes) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	total, bad := o.between(now.Add(-time.Second), now)
	share := 0.0
	if total > 0 {
		share = float64(bad) / float64(total)
	}
	_ = json.NewEncoder(w).Encode(map[string]float64{"share": share})
}

// canaryConfig gates the canary at 34% on the users' failed share.
func canaryConfig(t *testing.T, dir, metricsURL string) string {
	t.Helper()
	p := filepath.Join(dir, "cutover.yaml")
	cfg := `strategy: canary
checks:
  - name: errors
    analysis:
      metrics:
        - name: failed-share
          web: {url: ` + metricsURL + `, jsonPath: '{.share}'}
          initialDelay: 1s
          interval: 500ms
          count: 6
          successCondition: result < 0.01
canary:
  steps:
    - setWeight: 34
    - analysis: errors
    - setWeight: 67
    - pause: {duration: 2s}
  scaleDownDelay: 2s
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCanaryOnTheRealNode releases Tomcat 8 as a canary beside Tomcat 7's
// three pods, while users send requests through the Service's ClusterIP
// and NodePort, gated by an analysis of the share of their requests that
// fail. A good Tomcat 8 walks 34% → 67% and is promoted without a failed
// request; a bad one (every page a 500, its health check passing) is
// aborted by the analysis, and its failures stop once the abort is
// confirmed: what the users lost is reported.
func TestCanaryOnTheRealNode(t *testing.T) {
	testbed.RequireRealNode(t)
	for _, tc := range []struct {
		name string
		bad  bool
	}{{"good release", false}, {"bad release", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			ns, dir := cluster.Namespace(t), t.TempDir()
			a := safe()
			a.Major = "7"
			if r := cutover(ctx, t, ns, "deploy", "--strategy", "canary", "-f", a.write(t, dir), "--timeout", "2m"); r.exit != 0 {
				t.Fatalf("deploy 7: exit %d\n%s", r.exit, r.log())
			}
			seen := &outcomes{}
			metrics := httptest.NewServer(seen)
			defer metrics.Close()
			aud, err := audit.Start(ctx, audit.Options{Client: cluster.Client, Namespace: ns, Service: "web",
				PodSelector: labels.SelectorFromSet(labels.Set{"app": "web"}), MinReady: 1, FailedRequestsCounted: tc.bad})
			if err != nil {
				t.Fatal(err)
			}
			defer aud.Stop()
			u := startUsers(ctx, userOptions{URL: clusterURL(ctx, t, ns), NodePortURL: nodePortURL(ctx, t, ns), Dial: cluster.DialUser,
				ByKind: func(kind string, x dataplane.Outcome) { seen.add(kind, x); aud.Request(x) }})
			time.Sleep(time.Second)
			a.Major, a.Fail = "8", tc.bad
			r := cutover(ctx, t, ns, "deploy", "-c", canaryConfig(t, dir, metrics.URL), "-f", a.write(t, dir), "--timeout", "2m")
			time.Sleep(3 * time.Second) // the canary's pods leave after the run
			res := u.done()
			rep := aud.Stop()
			res.log(t, "")
			judgeCanary(t, r, res, rep, seen, tc.bad)
		})
	}
}

// judgeCanary checks one canary release under load.
func judgeCanary(t *testing.T, r *run, res loads, rep *audit.Report, seen *outcomes, bad bool) {
	t.Helper()
	set, stable := trafficTimes(r.events)
	if !bad {
		if r.exit != 0 || res.failed() > 0 || len(rep.Violations()) > 0 {
			t.Fatalf("good canary: exit %d, %d requests failed (%s), violations %v\n%s", r.exit, res.failed(), res.failures(), rep.Violations(), r.log())
		}
		if total, _ := seen.between(set, stable); total == 0 || res.by[fresh].Versions["Tomcat/8"] == 0 {
			t.Errorf("no request reached Tomcat 8 during the canary: %d requests between its first weight and its end", total)
		}
		return
	}
	if r.exit != 4 || set.IsZero() || stable.IsZero() {
		t.Fatalf("bad canary: exit %d, first weight at %v, all on stable at %v; want exit 4 after both\n%s", r.exit, set, stable, r.log())
	}
	judgeAbort(t, res, seen, set, stable)
}

// judgeAbort reports what the users lost to a bad canary: the share of
// their requests that failed while it ran, and how long after the
// confirmed abort new connections still failed.
func judgeAbort(t *testing.T, res loads, seen *outcomes, set, stable time.Time) {
	t.Helper()
	during, failedDuring := seen.between(set, stable)
	share := float64(failedDuring) / float64(max(during, 1))
	t.Logf("bad canary: %d of %d requests failed (%.0f%%) while it ran, from its first weight to the confirmed abort (%s)",
		failedDuring, during, 100*share, stable.Sub(set).Round(time.Millisecond))
	var lag time.Duration // from the confirmed abort to the last failure of a new connection
	for _, k := range res.kinds {
		n, f := seen.between(stable, time.Now(), k)
		if f == 0 {
			t.Logf("  %s users after the confirmed abort: none of %d failed", k, n)
			continue
		}
		last := seen.lastFailure(k).Sub(stable)
		if k == fresh || k == viaNodePort {
			lag = max(lag, last)
		}
		t.Logf("  %s users after the confirmed abort: %d of %d failed; the last failure sent %s after it", k, f, n, last.Round(time.Millisecond))
	}
	// The canary runs 2 of 5 pods: about 40% of new connections reach it
	// (kept-alive connections stay where they were); its failures must
	// not exceed that share by more than chance.
	if share > 0.5 {
		t.Errorf("%.0f%% of the requests failed while the bad canary ran: more than its share of the pods (40%%)", 100*share)
	}
	// The abort is confirmed in the EndpointSlices; kube-proxy applies
	// them within its minSyncPeriod (1s by default, as here) plus the
	// sync itself. New connections may fail only within that bound.
	if lag > proxyBound {
		t.Errorf("new connections failed until %s after the abort was confirmed: longer than kube-proxy's bound (%s)", lag, proxyBound)
	}
}

// proxyBound is how long kube-proxy may take to apply an EndpointSlice
// change: its default minSyncPeriod, 1s, and half a second for the sync.
const proxyBound = 1500 * time.Millisecond

// lastFailure is when the last failed request of kind was sent.
func (o *outcomes) lastFailure(kind string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	var last time.Time
	for _, x := range o.list {
		if x.kind == kind && failed(x.Outcome) && x.Time.After(last) {
			last = x.Time
		}
	}
	return last
}

// trafficTimes are when the canary first got weight, and when all
// traffic was confirmed back on stable.
func trafficTimes(events []event.Event) (set, stable time.Time) {
	for _, e := range events {
		switch {
		case e.Type == event.Traffic && e.Status == "set" && set.IsZero():
			set = e.Time
		case e.Type == event.Traffic && e.Status == "stable":
			stable = e.Time
		}
	}
	return set, stable
}
