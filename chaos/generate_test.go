package chaos

import (
	"testing"
)

// TestCISetCoversEveryFault checks that the default scenarios inject every
// fault on every strategy it applies to.
func TestCISetCoversEveryFault(t *testing.T) {
	seen := map[faultCase]bool{}
	for i := range uint64(len(cases)) {
		s := generate(1 + i)
		seen[faultCase{s.Strategy, s.Fault}] = true
	}
	for _, c := range cases {
		if !seen[c] {
			t.Errorf("the CI set misses %s on %s", c.fault, c.strategy)
		}
	}
}

// TestGenerateKeepsZeroDowntimePossible checks the rule on maxSurge and
// maxUnavailable over many seeds, and that scenarios are reproducible.
func TestGenerateKeepsZeroDowntimePossible(t *testing.T) {
	for seed := range uint64(2000) {
		s := generate(seed)
		if s != generate(seed) {
			t.Fatalf("seed %d gives two scenarios", seed)
		}
		if s.Replicas < 1 || s.Replicas > 10 {
			t.Errorf("%s: replicas out of 1-10", s)
		}
		if s.Strategy != Rolling {
			continue
		}
		unavailable := resolve(s.MaxUnavailable, s.Replicas, false)
		surge := resolve(s.MaxSurge, s.Replicas, true)
		if unavailable >= s.Replicas || s.minReady() < 1 {
			t.Errorf("%s: maxUnavailable resolves to %d of %d replicas", s, unavailable, s.Replicas)
		}
		if unavailable == 0 && surge == 0 {
			t.Errorf("%s: maxSurge and maxUnavailable both resolve to 0", s)
		}
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		v        string
		replicas int
		up       bool
		want     int
	}{
		{"2", 5, false, 2}, {"25%", 10, false, 2}, {"25%", 10, true, 3}, {"10%", 3, false, 0}, {"10%", 3, true, 1},
		{"100%", 4, true, 4}, {"0", 4, true, 0},
	}
	for _, c := range cases {
		if got := resolve(c.v, c.replicas, c.up); got != c.want {
			t.Errorf("resolve(%q, %d, up=%t) = %d, want %d", c.v, c.replicas, c.up, got, c.want)
		}
	}
}

func TestOutcomes(t *testing.T) {
	cases := []struct {
		s    Scenario
		exit int
		want Outcome
		ok   bool
	}{
		{Scenario{Strategy: Rolling, Fault: NeverReady}, 4, Outcome{4, "7"}, true},
		{Scenario{Strategy: Rolling, Fault: NeverReady}, 6, Outcome{4, "7"}, false},
		{Scenario{Strategy: BlueGreen, Fault: NeverReady}, 1, Outcome{1, "7"}, true},
		{Scenario{Strategy: BlueGreen, Fault: CheckProd}, 4, Outcome{4, "7"}, true},
		{Scenario{Strategy: BlueGreen, Fault: Reject}, 1, Outcome{1, "7"}, true},
		{Scenario{Strategy: BlueGreen, Fault: Kill}, 0, Outcome{0, "8"}, true},
		{Scenario{Strategy: BlueGreen, Fault: LockOtherHost}, 3, Outcome{3, "7"}, true},
		{Scenario{Strategy: BlueGreen, Fault: LockDeadHolder}, 3, Outcome{0, "8"}, false},
		{Scenario{Strategy: Rolling, Fault: APIServerRestart}, 0, Outcome{0, "8"}, true},
		{Scenario{Strategy: Rolling, Fault: APIServerRestart}, 4, Outcome{4, "7"}, true},
		{Scenario{Strategy: Rolling, Fault: APIServerRestart}, 3, Outcome{0, "8"}, false},
		{Scenario{Strategy: Rolling, Fault: APIServerRestart, RestartAt: "Validate"}, 3, Outcome{3, "7"}, true},
		{Scenario{Strategy: BlueGreen, Fault: APIServerRestart, RestartAt: "Switch"}, 6, Outcome{0, "8"}, false},
	}
	for _, c := range cases {
		got, ok := c.s.outcome(c.exit)
		if got != c.want || ok != c.ok {
			t.Errorf("%s on %s (at %q), exit %d: got %v %t, want %v %t", c.s.Fault, c.s.Strategy, c.s.RestartAt, c.exit, got, ok, c.want, c.ok)
		}
	}
}
