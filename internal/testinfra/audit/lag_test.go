package audit

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestEndpointLags(t *testing.T) {
	t.Parallel()
	start := []Entry{initial(sel(0, 1, "blue")), initial(pod(0, 2, "b1", "blue", "v1", ready)), initial(eps(0, "b1"))}
	cases := []struct {
		name    string
		entries []Entry
		want    []string // pod took[ open]
	}{
		{name: "nothing changes", entries: start},
		{name: "a new pod is ready, its endpoint follows",
			entries: append(slices.Clone(start), pod(100, 3, "b2", "blue", "v1", ready), eps(350, "b1", "b2")),
			want:    []string{"b2 250ms"}},
		{name: "an unready pod is no lag",
			entries: append(slices.Clone(start), pod(100, 3, "b2", "blue", "v1", unready))},
		{name: "a terminating pod stays an endpoint",
			entries: append(slices.Clone(start), pod(100, 3, "b2", "blue", "v1", ready), eps(150, "b1", "b2"),
				pod(1000, 4, "b1", "blue", "v1", terminating), pod(1500, 5, "b1", "blue", "v1", deleted), eps(4000, "b2")),
			want: []string{"b2 50ms", "b1 3s"}},
		{name: "a switch moves every pod at once",
			entries: append(slices.Clone(start), pod(100, 3, "g1", "green", "v2", ready), sel(1000, 4, "green"), eps(1200, "g1")),
			want:    []string{"b1 200ms", "g1 200ms"}},
		{name: "still stale when the audit stops",
			entries: append(slices.Clone(start), pod(1000, 3, "b1", "blue", "v1", terminating)),
			want:    []string{"b1 9s open"}},
		{name: "an endpoint without a pod",
			entries: append(slices.Clone(start), eps(2000, "b1", "ghost"), eps(2100, "b1")),
			want:    []string{"ghost 100ms"}},
		{name: "a stale initial state the first change ends is not measured",
			entries: []Entry{initial(sel(0, 1, "blue")), initial(pod(0, 2, "b1", "blue", "v1", ready)), initial(eps(0)), eps(300, "b1")},
			want:    nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, l := range report("", 1, tc.entries...).EndpointLags() {
				s := fmt.Sprintf("%s %s", l.Pod, l.Took)
				if l.Open {
					s += " open"
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("lags %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGoneEndpointTime(t *testing.T) {
	t.Parallel()
	start := []Entry{initial(sel(0, 1, "blue")), initial(pod(0, 2, "b1", "blue", "v1", ready)),
		initial(pod(0, 3, "b2", "blue", "v1", ready)), initial(eps(0, "b1", "b2"))}
	cases := []struct {
		name    string
		entries []Entry
		want    time.Duration
	}{
		{name: "nothing changes", entries: start},
		{name: "a terminating pod's endpoint is not a gone one",
			entries: append(slices.Clone(start), pod(100, 4, "b1", "blue", "v1", terminating), eps(3000, "b2"))},
		{name: "the endpoint outlives the pod",
			entries: append(slices.Clone(start), pod(100, 4, "b1", "blue", "v1", terminating), pod(500, 5, "b1", "blue", "v1", deleted),
				eps(2500, "b2")),
			want: 2 * time.Second},
		{name: "repaired, written back, repaired again",
			entries: append(slices.Clone(start), pod(500, 5, "b1", "blue", "v1", deleted), eps(1500, "b2"),
				eps(1600, "b1", "b2"), eps(2500, "b2")),
			want: 1900 * time.Millisecond},
		{name: "still listed when the audit stops",
			entries: append(slices.Clone(start), pod(9000, 5, "b1", "blue", "v1", deleted)),
			want:    time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := report("", 1, tc.entries...).GoneEndpointTime(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
