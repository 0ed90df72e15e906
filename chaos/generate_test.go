package chaos

import (
	"slices"
	"testing"

	"github.com/cutover/cutover/internal/config"
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
		{Scenario{Strategy: Canary, Fault: None}, 0, Outcome{0, "8"}, true},
		{Scenario{Strategy: Canary, Fault: BadCanary}, 4, Outcome{4, "7"}, true},
		{Scenario{Strategy: Canary, Fault: BadCanary}, 0, Outcome{4, "7"}, false},
		{Scenario{Strategy: Canary, Fault: CrashLoop}, 4, Outcome{4, "7"}, true},
		{Scenario{Strategy: Canary, Fault: NeverReady}, 1, Outcome{4, "7"}, false},
		{Scenario{Strategy: Canary, Fault: Kill}, 0, Outcome{0, "8"}, true},
		{Scenario{Strategy: Canary, Fault: APIServerRestart}, 4, Outcome{4, "7"}, true},
	}
	for _, c := range cases {
		got, ok := c.s.outcome(c.exit)
		if got != c.want || ok != c.ok {
			t.Errorf("%s on %s (at %q), exit %d: got %v %t, want %v %t", c.s.Fault, c.s.Strategy, c.s.RestartAt, c.exit, got, ok, c.want, c.ok)
		}
	}
}

// TestCanaryScenarios checks the canary scenarios: the CI set's seeds,
// fixed in order from 5000, cover every canary fault, and any canary
// scenario is reproducible, keeps zero downtime possible at promotion,
// has steps cutover takes, and is killed at the start of one of them.
func TestCanaryScenarios(t *testing.T) {
	seen := map[Fault]bool{}
	for i, c := range canarySeeds {
		if c.seed != 5000+uint64(i) {
			t.Errorf("canary seed %d is %d: the seeds run in order from 5000", i, c.seed)
		}
		seen[c.fault] = true
	}
	for _, f := range canaryFaults {
		if !seen[f] {
			t.Errorf("the CI set misses %s on canary", f)
		}
	}
	for seed := range uint64(2000) {
		s := generateCanary(seed, "")
		if s != generateCanary(seed, "") || s.Strategy != Canary {
			t.Fatalf("seed %d gives two scenarios, or not a canary: %s", seed, s)
		}
		if _, err := config.ParseSteps(s.Steps); err != nil {
			t.Errorf("%s: steps: %v", s, err)
		}
		if unavailable := resolve(s.MaxUnavailable, s.Replicas, false); unavailable >= s.Replicas ||
			unavailable == 0 && resolve(s.MaxSurge, s.Replicas, true) == 0 {
			t.Errorf("%s: stable's rollout at promotion cannot keep zero downtime", s)
		}
		if s.Fault == Kill && !slices.Contains(s.stepStages(), s.KillAt) {
			t.Errorf("%s: killed at %q, not one of its steps %q", s, s.KillAt, s.stepStages())
		}
	}
	if got := generateCanary(5001, BadCanary).faultStage(); got != "Step 2/4: analysis error-rate" {
		t.Errorf("a bad canary fails at %q, want its analysis step", got)
	}
}
