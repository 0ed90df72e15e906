package release_test

import (
	"maps"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/release"
)

// TestStagedRoundTrip: a pending record keeps what its promote needs, and
// expires when its time is up.
func TestStagedRoundTrip(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	staged := &release.Staged{Colors: [2]string{"blue", "green"}, IdlePolicy: "scale-down", ScaleDownDelay: 1500 * time.Millisecond,
		Templates: map[string]string{"web-green": "0123abcd"}, Expires: expires}
	r := create(t, s, &release.Record{App: "web", Strategy: "blue-green", FromColor: "blue", ToColor: "green",
		Outcome: release.OutcomePending, Staged: staged})
	got, err := s.Get(ctx, "web", r.Revision)
	if err != nil {
		t.Fatal(err)
	}
	g := got.Staged
	if g == nil || g.Colors != staged.Colors || g.IdlePolicy != staged.IdlePolicy || g.ScaleDownDelay != staged.ScaleDownDelay ||
		!maps.Equal(g.Templates, staged.Templates) || !g.Expires.Equal(expires) || got.Outcome != release.OutcomePending {
		t.Fatalf("read back %+v (outcome %s), want %+v", g, got.Outcome, staged)
	}
	cases := []struct {
		at   time.Time
		want bool
	}{{expires.Add(-time.Second), false}, {expires, true}, {expires.Add(time.Second), true}}
	for _, tc := range cases {
		if e := got.Expired(tc.at); e != tc.want {
			t.Errorf("Expired(%s) = %v, want %v (expires %s)", tc.at, e, tc.want, expires)
		}
	}
	got.Outcome = release.OutcomeSucceeded
	if got.Expired(expires.Add(time.Hour)) {
		t.Error("a promoted release expires: want only pending ones to")
	}
}
