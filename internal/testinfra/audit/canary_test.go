package audit

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
)

// A canary beside stable in the synthetic timelines: s1 and s2 run app:7
// (role stable), c1 runs app:8 (role canary); canaryPods selects c1.

var canaryPods = labels.SelectorFromSet(labels.Set{"role": "canary"})

func canaryStart() []Entry {
	return []Entry{
		initial(pod(0, 1, "s1", "stable", "app:7", ready)), initial(pod(0, 2, "s2", "stable", "app:7", ready)),
		initial(eps(0, "s1", "s2")),
		pod(100, 3, "c1", "canary", "app:8", unready), pod(300, 4, "c1", "canary", "app:8", ready),
		eps(320, "c1", "s1", "s2"),
	}
}

func route(ms int, pods ...string) Entry {
	return Entry{Time: at(ms), Kind: KindRoute, Endpoints: pods}
}

// routerErr is a request the router failed itself at pod.
func routerErr(ms int, pod string) Entry {
	o := &dataplane.Outcome{Time: at(ms), Status: 502, Pod: pod, Err: "connection refused: backend stopped"}
	return Entry{Time: at(ms), Kind: KindRequest, Request: o}
}

// answered is a request a pod answered with status.
func answered(ms, status int, pod string) Entry {
	o := &dataplane.Outcome{Time: at(ms), Status: status, Pod: pod}
	return Entry{Time: at(ms), Kind: KindRequest, Request: o}
}

func TestCountedPods(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		entries []Entry
		want    []string // one detail fragment per violation
	}{
		{name: "the canary's 500s are counted", entries: []Entry{answered(400, 500, "c1"), answered(401, 200, "s1"), answered(402, 500, "c1")}},
		{name: "a stable pod's 500 is not", entries: []Entry{answered(400, 500, "c1"), answered(401, 500, "s1")},
			want: []string{`1x status 500 pod "s1"`}},
		{name: "nor a router error at the canary", entries: []Entry{routerErr(400, "c1")},
			want: []string{`1x status 502 pod "c1": connection refused`}},
		{name: "nor no endpoint at all", entries: []Entry{answered(400, 503, "")}, want: []string{`status 503 pod ""`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := report("", 0, append(canaryStart(), tc.entries...)...)
			r.CountedPods = canaryPods
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
	// Without the option the canary's 500s are violations, as before.
	if vs := report("", 0, append(canaryStart(), answered(400, 500, "c1"))...).Violations(); len(vs) != 1 {
		t.Errorf("without CountedPods: %v, want one violation", vs)
	}
}

func TestCheckDrained(t *testing.T) {
	t.Parallel()
	const confirmed = 1000 // ms: the abort's confirmation
	routed := append(canaryStart(), route(330, "c1", "s1", "s2"), answered(500, 500, "c1"))
	cases := []struct {
		name         string
		entries      []Entry
		applied      int // Drain.Applied, ms; -1 for zero
		lagged, late int
		text         string // Drain.String(), if given
		detail       string // "" for no violation
	}{
		{name: "dropped before the confirmation", applied: confirmed,
			entries: []Entry{route(990, "s1", "s2"), answered(995, 200, "s1"), answered(1005, 200, "s2")},
			text:    "the router had left them by the confirmation; 0 requests reached them after"},
		{name: "a request just before it is not judged", applied: confirmed,
			entries: []Entry{route(998, "s1", "s2"), answered(999, 200, "c1")}},
		{name: "the router a moment behind", applied: 1003, lagged: 1,
			entries: []Entry{answered(1002, 500, "c1"), route(1003, "s1", "s2"), answered(1004, 200, "s1")},
			text:    "the router left them 3ms after the confirmation, 1 requests reaching them meanwhile (1 failed); 0 after"},
		{name: "a change at the confirmation itself", applied: confirmed,
			entries: []Entry{route(confirmed, "s1", "s2"), answered(1001, 200, "s1")}},
		{name: "back after it left", applied: confirmed, late: 1,
			entries: []Entry{route(990, "s1", "s2"), route(1200, "c1", "s1"), answered(1300, 200, "c1")},
			detail:  "1 requests reached pods of role=canary after they were confirmed drained at 10:00:01.000 (the router left them at 10:00:01.000, 0s after the confirmation): 1x c1"},
		{name: "a terminating canary endpoint is still the canary", applied: -1, late: 1,
			entries: []Entry{route(990, "c1(terminating)", "s1"), answered(1500, 200, "c1")},
			detail:  "the router never left them"},
		{name: "stable's requests after it are fine", applied: confirmed,
			entries: []Entry{route(900, "s1", "s2"), answered(1100, 200, "s1"), answered(1200, 500, "s2")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := report("", 0, append(append([]Entry{}, routed...), tc.entries...)...)
			d := r.Drain(canaryPods, at(confirmed))
			want := time.Time{}
			if tc.applied >= 0 {
				want = at(tc.applied)
			}
			if !d.Applied.Equal(want) || len(d.Lagged) != tc.lagged || len(d.Late) != tc.late {
				t.Errorf("applied %s, %d lagged, %d late; want %s, %d, %d", d.Applied, len(d.Lagged), len(d.Late), want, tc.lagged, tc.late)
			}
			if tc.text != "" && d.String() != tc.text {
				t.Errorf("String() = %q, want %q", d.String(), tc.text)
			}
			vs := r.CheckDrained(canaryPods, at(confirmed))
			switch {
			case tc.detail == "" && len(vs) > 0:
				t.Fatalf("want no violation, got %v", vs)
			case tc.detail != "" && len(vs) != 1:
				t.Fatalf("want one violation saying %q, got %v", tc.detail, vs)
			case tc.detail != "" && (vs[0].Invariant != Drained || !strings.Contains(vs[0].Detail, tc.detail)):
				t.Errorf("violation %s does not say %q", vs[0], tc.detail)
			}
		})
	}
}

func TestExposure(t *testing.T) {
	t.Parallel()
	r := report("", 0, append(canaryStart(),
		answered(200, 200, "s1"), // before the canary took traffic: not counted
		answered(400, 500, "c1"), answered(401, 200, "s1"), answered(402, 200, "s2"),
		answered(403, 500, "c1"), answered(404, 200, "s1"), answered(405, 503, ""),
		answered(1000, 200, "s1"), // from the abort's confirmation on: not counted
	)...)
	got := r.Exposure(canaryPods, at(1000))
	want := Exposure{From: at(400), Until: at(1000), Total: 6, Failed: 3, ToPods: 2, FailedAtPods: 2}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if s := got.String(); s != "3 of 6 requests failed over 600ms (2 of the 2 routed to them)" {
		t.Errorf("String() = %q", s)
	}
	if got := report("", 0, canaryStart()...).Exposure(canaryPods, time.Time{}); !got.From.IsZero() || got.String() != "no request reached them" {
		t.Errorf("no canary request: %+v %q", got, got.String())
	}
}

func TestCheckRoutedReady(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		entries []Entry
		detail  string // "" for no violation
	}{
		{name: "the canary got ready first", entries: canaryStart()},
		{name: "a pod the watch saw ready only later (a relist)",
			entries: []Entry{initial(pod(0, 1, "s1", "stable", "app:7", unready)), initial(eps(0, "s1")), pod(50, 9, "s1", "stable", "app:7", ready)}},
		{name: "a crash-looping canary routed to",
			entries: []Entry{initial(pod(0, 1, "s1", "stable", "app:7", ready)), initial(eps(0, "s1")),
				pod(100, 3, "c1", "canary", "app:8", unready), eps(150, "c1", "s1"), eps(200, "s1"), pod(300, 4, "c1", "canary", "app:8", terminating)},
			detail: "pod c1 was a ready endpoint from 10:00:00.150 and never Ready"},
		{name: "a pod the watch never saw is not judged",
			entries: []Entry{initial(pod(0, 1, "s1", "stable", "app:7", ready)), initial(eps(0, "s1", "x1"))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vs := report("", 0, tc.entries...).CheckRoutedReady()
			switch {
			case tc.detail == "" && len(vs) > 0:
				t.Fatalf("want no violation, got %v", vs)
			case tc.detail != "" && len(vs) != 1:
				t.Fatalf("want one violation saying %q, got %v", tc.detail, vs)
			case tc.detail != "" && (vs[0].Invariant != RoutedReady || !strings.Contains(vs[0].Detail, tc.detail)):
				t.Errorf("violation %s does not say %q", vs[0], tc.detail)
			}
		})
	}
}
