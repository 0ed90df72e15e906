package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
)

// Synthetic timelines: t0 is the audit's start, times are milliseconds
// after it.

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func sel(ms int, rv uint64, role string) Entry {
	return Entry{Time: at(ms), RV: rv, Kind: KindSelector, Selector: map[string]string{"app": "web", "role": role}}
}

func initial(e Entry) Entry { e.Initial = true; return e }

func eps(ms int, pods ...string) Entry {
	return Entry{Time: at(ms), Kind: KindEndpoints, Endpoints: pods}
}

// podState is a pod's state in a synthetic entry.
type podState int

const (
	unready podState = iota
	ready
	terminating
	deleted
)

func pod(ms int, rv uint64, name, role, image string, s podState) Entry {
	p := &Pod{Name: name, Labels: map[string]string{"app": "web", "role": role}, Image: image,
		Ready: s == ready, Terminating: s == terminating, Deleted: s == deleted}
	return Entry{Time: at(ms), RV: rv, Kind: KindPod, Pod: p}
}

func req(ms, status int, pod string) Entry {
	o := &dataplane.Outcome{Time: at(ms), Status: status, Pod: pod}
	if status >= 500 {
		o.Err = "backend down"
	}
	return Entry{Time: at(ms), Kind: KindRequest, Request: o}
}

func report(colorKey string, minReady int, es ...Entry) *Report {
	sortEntries(es)
	return &Report{Namespace: "ns", Service: "web", ColorKey: colorKey, MinReady: minReady,
		Started: t0, Stopped: at(10000), Entries: es}
}

// invariants returns the invariants broken, in order.
func invariants(vs []Violation) []Invariant {
	var out []Invariant
	for _, v := range vs {
		out = append(out, v.Invariant)
	}
	return out
}

func sameInvariants(a, b []Invariant) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadyEndpoints(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		minReady int
		entries  []Entry
		want     int    // violations
		detail   string // in the first one
	}{
		{name: "steady", entries: []Entry{initial(eps(0, "a", "b")), eps(100, "a", "b", "c"), eps(200, "b", "c")}},
		{name: "blue/green swap in one update", entries: []Entry{initial(eps(0, "b1", "b2")), eps(500, "g1", "g2")}},
		{name: "empty for a moment", entries: []Entry{initial(eps(0, "b1")), eps(500), eps(530, "g1")},
			want: 1, detail: "had 0 ready endpoints (want at least 1) for 30ms"},
		{name: "empty until the end", entries: []Entry{initial(eps(0, "a")), eps(500)},
			want: 1, detail: "until the end of the audit"},
		{name: "rolling stays at min ready", minReady: 2,
			entries: []Entry{initial(eps(0, "a", "b", "c")), eps(100, "a", "b"), eps(200, "a", "b", "d"), eps(300, "b", "d")}},
		{name: "rolling dips below min ready", minReady: 2,
			entries: []Entry{initial(eps(0, "a", "b", "c")), eps(100, "a", "b"), eps(200, "a"), eps(250, "a", "d"), eps(300, "a", "d", "e")},
			want:    1, detail: "had 1 ready endpoints (want at least 2) for 50ms; fewest: [a]"},
		{name: "two dips", minReady: 1,
			entries: []Entry{initial(eps(0, "a")), eps(100), eps(200, "b"), eps(300), eps(400, "c")}, want: 2},
		{name: "min ready counts once reached", minReady: 3,
			entries: []Entry{initial(eps(0, "a")), eps(100, "a", "b"), eps(200, "a", "b", "c")}},
		{name: "min ready never reached", minReady: 3,
			entries: []Entry{initial(eps(0, "a")), eps(100, "a", "b")}, want: 1, detail: "never had 3 ready endpoints"},
		{name: "no endpoints at all", entries: []Entry{initial(eps(0))}, want: 1, detail: "never had 1 ready endpoints"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vs := report("", tc.minReady, tc.entries...).Violations()
			if len(vs) != tc.want {
				t.Fatalf("got %d violations, want %d: %v", len(vs), tc.want, vs)
			}
			for _, v := range vs {
				if v.Invariant != ReadyEndpoints {
					t.Errorf("violation %s, want %s", v, ReadyEndpoints)
				}
			}
			if tc.want > 0 && !strings.Contains(vs[0].Detail, tc.detail) {
				t.Errorf("violation %q does not say %q", vs[0].Detail, tc.detail)
			}
		})
	}
}

// hashed gives a pod entry the pod-template-hash label of its ReplicaSet.
func hashed(e Entry, hash string) Entry {
	e.Pod.Labels["pod-template-hash"] = hash
	return e
}

func TestReadyColor(t *testing.T) {
	t.Parallel()
	blueReady := []Entry{
		initial(sel(0, 10, "blue")), initial(eps(0, "b1", "b2")),
		initial(pod(0, 5, "b1", "blue", "app:7", ready)), initial(pod(0, 6, "b2", "blue", "app:7", ready)),
	}
	with := func(es ...Entry) []Entry { return append(append([]Entry{}, blueReady...), es...) }
	cases := []struct {
		name     string
		colorKey string
		entries  []Entry
		detail   string // "" for no violation
	}{
		{name: "switch to a ready color", colorKey: "role", entries: with(
			pod(100, 20, "g1", "green", "app:8", unready), pod(150, 21, "g2", "green", "app:8", unready),
			pod(300, 22, "g1", "green", "app:8", ready), pod(400, 23, "g2", "green", "app:8", ready),
			sel(500, 30, "green"), eps(510, "g1", "g2"))},
		{name: "switch to a half-ready color", colorKey: "role", entries: with(
			pod(100, 20, "g1", "green", "app:8", ready), pod(150, 21, "g2", "green", "app:8", unready),
			sel(500, 30, "green"), eps(510, "g1"), pod(600, 31, "g2", "green", "app:8", ready)),
			detail: "1 of its 2 pods were not ready: g2"},
		{name: "switch to a color with no pod", colorKey: "role", entries: with(sel(500, 30, "green"), eps(510)),
			detail: "while it selected no pod"},
		{name: "switch back to a scaled-down color", colorKey: "role", entries: with(
			pod(100, 20, "g1", "green", "app:8", ready), sel(200, 30, "green"),
			pod(300, 31, "b1", "blue", "app:7", deleted), pod(300, 32, "b2", "blue", "app:7", deleted),
			sel(400, 40, "blue")),
			detail: "role=blue) at resourceVersion 40 while it selected no pod"},
		{name: "terminating pods of the color do not count", colorKey: "role", entries: with(
			pod(100, 20, "g1", "green", "app:8", ready), pod(100, 21, "g0", "green", "app:7", terminating),
			sel(500, 30, "green"))},
		{name: "switch to a color running two templates", colorKey: "role", entries: with(
			hashed(pod(100, 20, "g1", "green", "app:8", ready), "new"), hashed(pod(100, 21, "g0", "green", "app:7", ready), "old"),
			sel(500, 30, "green")),
			detail: "ran 2 templates: template new: g1 (app:8); template old: g0 (app:7)"},
		{name: "the old template terminating is one template", colorKey: "role", entries: with(
			hashed(pod(100, 20, "g1", "green", "app:8", ready), "new"), hashed(pod(100, 21, "g0", "green", "app:7", terminating), "old"),
			sel(500, 30, "green"))},
		// The pod watch delivered "ready" after the selector watch delivered
		// the switch, but etcd made the pod ready first: no violation.
		{name: "resourceVersion order, not arrival order: fit", colorKey: "role", entries: with(
			pod(100, 20, "g1", "green", "app:8", unready), sel(500, 30, "green"), pod(510, 29, "g1", "green", "app:8", ready))},
		// The reverse: the switch came first in etcd, the pod became ready
		// after it, though the auditor heard of the pod first.
		{name: "resourceVersion order, not arrival order: unfit", colorKey: "role", entries: with(
			pod(100, 20, "g1", "green", "app:8", unready), pod(490, 31, "g1", "green", "app:8", ready), sel(500, 30, "green")),
			detail: "1 of its 1 pods were not ready: g1"},
		{name: "first switch on a first deploy", colorKey: "role", entries: []Entry{
			initial(pod(0, 5, "b1", "blue", "app:7", unready)), pod(100, 11, "b1", "blue", "app:7", ready),
			sel(200, 12, "blue")}},
		{name: "first switch on a first deploy, too early", colorKey: "role", entries: []Entry{
			initial(pod(0, 5, "b1", "blue", "app:7", unready)), sel(200, 12, "blue")}, detail: "were not ready: b1"},
		{name: "initial selector is not judged", colorKey: "role", entries: []Entry{
			initial(sel(0, 10, "blue")), initial(pod(0, 5, "b1", "blue", "app:7", unready))}},
		{name: "rolling: no colors", entries: with(pod(100, 20, "g1", "green", "app:8", unready), sel(500, 30, "green"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var vs []Violation
			for _, v := range report(tc.colorKey, 0, tc.entries...).Violations() {
				if v.Invariant == ReadyColor {
					vs = append(vs, v)
				}
			}
			switch {
			case tc.detail == "" && len(vs) > 0:
				t.Fatalf("want no violation, got %v", vs)
			case tc.detail != "" && len(vs) != 1:
				t.Fatalf("want one violation saying %q, got %v", tc.detail, vs)
			case tc.detail != "" && !strings.Contains(vs[0].Detail, tc.detail):
				t.Errorf("violation %q does not say %q", vs[0].Detail, tc.detail)
			}
		})
	}
}

func TestFailedRequests(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		entries []Entry
		want    []string // one detail fragment per violation
		counted bool
	}{
		{name: "all answered", entries: []Entry{req(0, 200, "a"), req(5, 204, "b")}},
		{name: "one burst", entries: []Entry{req(0, 200, "a"), req(100, 503, ""), req(105, 503, ""), req(900, 502, "a"), req(950, 200, "b")},
			want: []string{"3 failed requests over 800ms: 1x status 502 pod \"a\": backend down; 2x status 503 pod \"\": backend down"}},
		{name: "two bursts", entries: []Entry{req(0, 500, "a"), req(2000, 500, "a"), req(2001, 500, "a")},
			want: []string{"1 failed requests", "2 failed requests"}},
		{name: "4xx fails too", entries: []Entry{req(0, 404, "a")}, want: []string{"status 404"}},
		{name: "counted, not judged, for a fault past the pods' grace", entries: []Entry{req(0, 502, "a")}, counted: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			es := append([]Entry{initial(eps(0, "a", "b"))}, tc.entries...)
			r := report("", 0, es...)
			r.FailedRequestsCounted = tc.counted
			vs := r.Violations()
			if len(vs) != len(tc.want) {
				t.Fatalf("got %d violations, want %d: %v", len(vs), len(tc.want), vs)
			}
			for i, v := range vs {
				if v.Invariant != NoFailedRequests || !strings.Contains(v.Detail, tc.want[i]) {
					t.Errorf("violation %d: %s, want %s saying %q", i, v, NoFailedRequests, tc.want[i])
				}
			}
		})
	}
}

func TestCheckProduction(t *testing.T) {
	t.Parallel()
	good := []Entry{
		initial(sel(0, 10, "blue")),
		pod(0, 5, "b1", "blue", "app:7", ready), pod(0, 6, "b2", "blue", "app:7", ready),
		pod(0, 7, "g1", "green", "app:8", unready), // idle color: not production
		eps(10, "b1", "b2"),
	}
	with := func(es ...Entry) []Entry { return append(append([]Entry{}, good...), es...) }
	want := Expect{Image: "app:7", Replicas: 2}
	cases := []struct {
		name    string
		entries []Entry
		detail  string // in the first violation; "" for none
	}{
		{name: "last good release", entries: good},
		{name: "old pod terminating", entries: with(pod(20, 20, "b0", "blue", "app:6", terminating))},
		{name: "one pod missing", entries: with(pod(20, 20, "b2", "blue", "app:7", deleted), eps(30, "b1")),
			detail: "selects 1 pods, want 2 ready pods of app:7: [b1]"},
		{name: "pod not ready", entries: with(pod(20, 20, "b2", "blue", "app:7", unready), eps(30, "b1")),
			detail: "pod b2 is not ready"},
		{name: "wrong release", entries: with(sel(20, 20, "green"), pod(20, 21, "g1", "green", "app:8", ready),
			pod(20, 22, "g2", "green", "app:8", ready), eps(30, "g1", "g2")), detail: "pod g1 runs app:8, want app:7"},
		{name: "endpoints lag", entries: with(eps(30, "b1")), detail: "ready endpoints [b1] are not the selected pods [b1 b2]"},
		{name: "service gone", entries: with(Entry{Time: at(20), Kind: KindSelector}), detail: "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vs := report("role", 0, tc.entries...).CheckProduction(want)
			switch {
			case tc.detail == "" && len(vs) > 0:
				t.Fatalf("want no violation, got %v", vs)
			case tc.detail != "" && len(vs) == 0:
				t.Fatalf("want a violation saying %q, got none", tc.detail)
			case tc.detail != "" && (vs[0].Invariant != Production || !strings.Contains(vs[0].Detail, tc.detail)):
				t.Errorf("violation %s does not say %q", vs[0], tc.detail)
			}
		})
	}
}

func TestWriteTimeline(t *testing.T) {
	t.Parallel()
	r := report("role", 0,
		initial(sel(0, 10, "blue")), initial(eps(0, "b1")), initial(pod(0, 5, "b1", "blue", "app:7", ready)),
		req(100, 200, "b1"), req(200, 200, "b1"), req(1100, 200, "b1"),
		Entry{Time: at(1200), Kind: KindNote, Note: "cutover: stage.started Switch"},
		sel(1300, 30, "green"), req(1400, 503, ""))
	path := filepath.Join(t.TempDir(), "timeline.txt")
	if err := r.WriteTimeline(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"audit of service ns/web",
		"2 violations",
		"[ready-color]", "[no-failed-requests]",
		"+0.000s        10  selector  app=web,role=blue (initial)",
		"2 ok in second 0: b1 x2",
		"1 ok in second 1: b1 x1",
		"note      cutover: stage.started Switch",
		"request   FAILED status 503",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("timeline lacks %q:\n%s", want, text)
		}
	}
	if got := invariants(r.Violations()); !sameInvariants(got, []Invariant{ReadyColor, NoFailedRequests}) {
		t.Errorf("violations %v", got)
	}
}

// TestOutageCountsTheRoutersOwnFailures: while the router itself is down
// (a gateway restarted), the requests it fails without reaching a pod,
// sent then or cut off by it, are counted; a pod's own failed answer, or a
// failure outside the outage, is still a violation.
func TestOutageCountsTheRoutersOwnFailures(t *testing.T) {
	inFlight := req(950, 0, "")
	inFlight.Request.Duration = 100 * time.Millisecond // sent before the kill at 1000, reset by it
	for _, tc := range []struct {
		name   string
		req    Entry
		broken bool
	}{
		{"refused while down", req(1200, 0, ""), false},
		{"cut off by the kill", inFlight, false},
		{"a pod's 500 while down", req(1200, 500, "web-1"), true},
		{"refused before the outage", req(500, 0, ""), true},
		{"refused after it", req(2500, 0, ""), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Request.Err = "connection refused"
			r := report("", 1, eps(0, "web-1"), tc.req)
			r.Outages = []Window{{From: at(1000), To: at(2000)}}
			got := sameInvariants(invariants(r.Violations()), []Invariant{NoFailedRequests})
			if got != tc.broken {
				t.Errorf("violations %v, want no-failed-requests broken: %v", r.Violations(), tc.broken)
			}
		})
	}
}
