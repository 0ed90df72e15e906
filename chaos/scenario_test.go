package chaos

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Strategy is cutover's --strategy.
type Strategy string

// Strategies.
const (
	Rolling   Strategy = "rolling"
	BlueGreen Strategy = "blue-green"
	// Canary is a canary release in replica mode (NAME-canary beside the
	// stable Deployment, behind the same Service). It is not among the
	// seeded cases (adding one would change every seed's scenario): its
	// scenarios are canarySeeds, and -chaos.canary.
	Canary Strategy = "canary"
)

// Fault is the one thing that goes wrong in a scenario (see the package
// documentation).
type Fault string

// Faults.
const (
	NeverReady       Fault = "never-ready"
	CrashLoop        Fault = "crash-loop"
	CheckStaged      Fault = "check-staged"
	CheckProd        Fault = "check-prod"
	Reject           Fault = "reject"
	Kill             Fault = "kill"
	APIServerRestart Fault = "apiserver-restart"
	LockDeadHolder   Fault = "lock-dead-holder"
	LockOtherHost    Fault = "lock-other-host"
	// ControllerFreeze freezes the EndpointSlice controller (SIGSTOP) for
	// FreezeFor while cutover waits for the rollout. It is not among the
	// seeded cases (adding one would change every seed's scenario): it runs
	// with -chaos.fault=controller-freeze.
	ControllerFreeze Fault = "controller-freeze"
	// None injects nothing: a good canary, which must go all the way.
	None Fault = "none"
	// BadCanary is a canary whose new release answers 500 (the pods are
	// Ready): the analysis step, the users' failed share, fails.
	BadCanary Fault = "bad-canary"
)

// serialFault reports whether a fault stops a part of the control plane
// that every scenario shares: such scenarios run one at a time.
func serialFault(f Fault) bool { return f == APIServerRestart || f == ControllerFreeze }

// faultCase is a fault on a strategy.
type faultCase struct {
	strategy Strategy
	fault    Fault
}

// cases lists every fault on every strategy it applies to. Scenario seed s
// gets cases[s % len(cases)], so any len(cases) consecutive seeds cover
// them all.
var cases = []faultCase{
	{Rolling, NeverReady}, {BlueGreen, NeverReady},
	{Rolling, CrashLoop}, {BlueGreen, CrashLoop},
	{Rolling, CheckStaged}, {BlueGreen, CheckStaged},
	{BlueGreen, CheckProd},
	{BlueGreen, Reject},
	{Rolling, Kill}, {BlueGreen, Kill},
	{Rolling, APIServerRestart}, {BlueGreen, APIServerRestart},
	{BlueGreen, LockDeadHolder},
	{BlueGreen, LockOtherHost},
}

// Scenario is one chaos run, generated from its seed.
type Scenario struct {
	Seed     uint64
	Strategy Strategy
	Fault    Fault
	Replicas int
	// Pods are Ready ReadyAfter after they start, or at a uniform time up
	// to ReadyAfterMax when set; deleted ones stay Terminating for
	// TerminateAfter, with a grace period of Grace seconds.
	ReadyAfter, ReadyAfterMax, TerminateAfter time.Duration
	Grace                                     int
	// MaxSurge and MaxUnavailable are the rolling update's, as written in
	// the Deployment: "2" or "25%".
	MaxSurge, MaxUnavailable string
	// IdlePolicy is blue/green's --idle-policy.
	IdlePolicy string
	// Verify adds a passing --verify-url check (always on for the check
	// faults).
	Verify bool
	// CheckViaApp makes check-staged on blue/green fail through the new
	// release answering 500, instead of a failing check server.
	CheckViaApp bool
	// Steps are a canary's --steps, e.g. "10,analysis=error-rate,50".
	Steps string
	// Gateway makes a canary split its traffic through the test bed's
	// Traefik (--route), judged by a background analysis in a real
	// Prometheus (gateway_test.go).
	Gateway bool
	// DynamicStable makes a canary without a gateway share stable's pods
	// with the canary (--dynamic-stable-scale).
	DynamicStable bool
	// KillAt is the stage whose start triggers the kill, KillDelay later.
	KillAt    string
	KillDelay time.Duration
	// RestartDown is how long kube-apiserver stays down before it starts
	// again.
	RestartDown time.Duration
	// FreezeFor is how long the EndpointSlice controller stays frozen.
	FreezeFor time.Duration
	// RestartAt is the stage whose start triggers the restart; "" (the
	// default) is while cutover waits for the new pods, which it must ride
	// out. Set with -chaos.restart-at to explore the other stages.
	RestartAt string
}

// Name is the scenario's subtest name.
func (s Scenario) Name() string {
	if s.Gateway {
		return fmt.Sprintf("seed-%d-%s-gateway-%s", s.Seed, s.Strategy, s.Fault)
	}
	return fmt.Sprintf("seed-%d-%s-%s", s.Seed, s.Strategy, s.Fault)
}

// String describes the scenario on one line.
func (s Scenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %s, %s, %d replicas, ready after %s", s.Seed, s.Strategy, s.Fault, s.Replicas, s.ReadyAfter)
	if s.ReadyAfterMax > 0 {
		fmt.Fprintf(&b, "-%s", s.ReadyAfterMax)
	}
	fmt.Fprintf(&b, ", terminating %s, grace %ds", s.TerminateAfter, s.Grace)
	if s.Strategy == BlueGreen {
		fmt.Fprintf(&b, ", idle policy %s", s.IdlePolicy)
	} else {
		fmt.Fprintf(&b, ", maxSurge %s maxUnavailable %s (min ready %d)", s.MaxSurge, s.MaxUnavailable, s.minReady())
	}
	if s.Strategy == Canary {
		fmt.Fprintf(&b, ", steps %s", s.Steps)
	}
	if s.DynamicStable {
		b.WriteString(", dynamic stable scale")
	}
	if s.Gateway {
		b.WriteString(", through the gateway")
	}
	if s.Verify {
		b.WriteString(", verify")
	}
	switch s.Fault {
	case BadCanary:
		b.WriteString(" (the app answers 500)")
	case SlowCanary:
		fmt.Fprintf(&b, " (the app answers after %s)", slowDelay)
	case TraefikRestart:
		fmt.Fprintf(&b, " down %s", s.RestartDown)
	case CheckStaged:
		if s.CheckViaApp {
			b.WriteString(" (the app answers 500)")
		}
	case Kill:
		fmt.Fprintf(&b, " at %s+%s", s.KillAt, s.KillDelay)
	case ControllerFreeze:
		fmt.Fprintf(&b, " for %s", s.FreezeFor)
	case APIServerRestart:
		if s.RestartAt != "" {
			fmt.Fprintf(&b, " at %s", s.RestartAt)
		}
		fmt.Fprintf(&b, " down %s", s.RestartDown)
	}
	return b.String()
}

// generate makes the scenario of a seed.
func generate(seed uint64) Scenario { return generateCase(seed, cases[seed%uint64(len(cases))]) }

// generateFault makes the scenario of a seed with the given fault, on
// rolling for even seeds and blue/green for odd ones (-chaos.fault); a
// fault only a canary has makes a canary.
func generateFault(seed uint64, f Fault) Scenario {
	c := faultCase{strategy: Rolling, fault: f}
	switch {
	case f == None || f == BadCanary:
		c.strategy = Canary
	case seed%2 == 1:
		c.strategy = BlueGreen
	}
	return generateCase(seed, c)
}

// generateCanary makes a canary scenario of a seed with the given fault,
// or without one the seed's among canaryFaults (-chaos.canary).
func generateCanary(seed uint64, f Fault) Scenario {
	if f == "" {
		f = canaryFaults[seed%uint64(len(canaryFaults))]
	}
	return generateCase(seed, faultCase{Canary, f})
}

func generateCase(seed uint64, c faultCase) Scenario {
	r := rand.New(rand.NewPCG(seed, 0x63_75_74_6f_76_65_72))
	s := Scenario{Seed: seed, Strategy: c.strategy, Fault: c.fault, Replicas: 1 + r.IntN(10)}
	s.ReadyAfter = ms(50 + r.IntN(500))
	if r.IntN(2) == 0 {
		s.ReadyAfterMax = s.ReadyAfter + ms(50+r.IntN(500))
	}
	if s.Fault == APIServerRestart {
		// The rollout must still be under way when the API server dies,
		// however fast it is killed: see the package documentation.
		s.ReadyAfter, s.ReadyAfterMax = ms(1500+r.IntN(500)), 0
		s.RestartDown = ms(r.IntN(1000))
	}
	if s.Fault == ControllerFreeze {
		// As with a restart, the rollout must still be under way when the
		// controller freezes. The freeze ends within the old pods' grace
		// period (5-8 s) in about half of the scenarios.
		s.ReadyAfter, s.ReadyAfterMax = ms(1500+r.IntN(500)), 0
		s.FreezeFor = ms(1000 + r.IntN(11000))
	}
	s.TerminateAfter = ms(200 * r.IntN(4))
	s.Grace = minGrace + r.IntN(4)
	if s.Fault == APIServerRestart {
		s.Grace = restartGrace
	}
	if s.Strategy == BlueGreen {
		s.IdlePolicy = []string{"keep", "scale-down", "update"}[r.IntN(3)]
	} else { // rolling, and a canary's promotion: stable rolls out
		s.MaxSurge, s.MaxUnavailable = rollout(r, s.Replicas)
	}
	s.Verify = r.IntN(2) == 0 || s.Fault == CheckStaged || s.Fault == CheckProd
	if s.Strategy == Canary {
		s.Steps = canarySteps(r)
	}
	switch s.Fault {
	case CheckStaged:
		s.CheckViaApp = s.Strategy == BlueGreen && r.IntN(2) == 0
	case Kill:
		stages := s.killStages()
		s.KillAt = stages[r.IntN(len(stages))]
		s.KillDelay = ms(r.IntN(300))
	}
	// Drawn last, so that the draws before keep the seeds' other values.
	s.DynamicStable = s.Strategy == Canary && r.IntN(2) == 0
	return s
}

// killStages are the stages a kill may hit: every stage but the last, so
// that the kill lands while cutover runs. A canary's are its steps
// (Scenario.killStages).
var killStages = map[Strategy][]string{
	Rolling:   {"Validate", "Apply", "Wait"},
	BlueGreen: {"Check Env", "Deploy", "Verify Staged", "Confirm", "Switch", "Verify Prod"},
}

// killStages are the stages the scenario's kill may hit: a canary is
// killed at the start of one of its steps, mid-release, which a rerun
// must resume.
func (s Scenario) killStages() []string {
	if s.Strategy == Canary {
		return s.stepStages()
	}
	return killStages[s.Strategy]
}

// Grace periods. A deleted pod's endpoint leaves the EndpointSlice only
// when the controller manager gets to it: on two busy cores with the race
// detector that lags the deletion by up to 1.5s, so a pod must serve (its
// backend does until its deletionTimestamp, which has whole seconds and is
// rounded down) for longer than that. After an API server restart the
// EndpointSlice controller has been seen 15-25s behind the Deployment
// controller ("EndpointSlice informer cache is out of date" until its
// informers' backoff ends; Services dropped after the retry budget), so
// those scenarios give pods a grace period long enough to serve through it,
// as production apps do with a preStop sleep.
const (
	minGrace     = 5
	restartGrace = 45
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// rollout picks maxSurge and maxUnavailable that allow zero downtime:
// maxUnavailable resolves to fewer than replicas, and maxSurge resolves to
// at least 1 when maxUnavailable resolves to 0.
func rollout(r *rand.Rand, replicas int) (surge, unavailable string) {
	percents := []int{10, 25, 50, 75}
	switch n := r.IntN(3); {
	case n == 0 || replicas == 1:
		unavailable = "0"
	case n == 1:
		unavailable = strconv.Itoa(1 + r.IntN(replicas-1))
	default:
		unavailable = strconv.Itoa(percents[r.IntN(len(percents))]) + "%"
	}
	minSurge := 0
	if resolve(unavailable, replicas, false) == 0 {
		minSurge = 1
	}
	if r.IntN(2) == 0 {
		return strconv.Itoa(minSurge + r.IntN(replicas+1-minSurge)), unavailable
	}
	return strconv.Itoa(append([]int{100}, percents...)[r.IntN(len(percents)+1)]) + "%", unavailable
}

// resolve turns "2" or "25%" into a number of pods the way the Deployment
// controller does: maxSurge rounds up, maxUnavailable down.
func resolve(v string, replicas int, roundUp bool) int {
	p, ok := strings.CutSuffix(v, "%")
	n, _ := strconv.Atoi(p)
	if !ok {
		return n
	}
	if roundUp {
		return (n*replicas + 99) / 100
	}
	return n * replicas / 100
}

// minReady is the fewest ready endpoints production may have: rolling,
// replicas - maxUnavailable; blue/green switches every replica at once.
// After an API server restart the controller manager works from stale
// caches for a while and has been seen to breach maxUnavailable on its own
// (seed 220: a surplus new pod deleted while three old ones were scaled
// down for it), so those scenarios only require one ready endpoint: zero
// downtime, not full capacity.
func (s Scenario) minReady() int {
	switch {
	case serialFault(s.Fault):
		return 1
	case s.Strategy == BlueGreen:
		return s.Replicas
	}
	// Rolling, and a canary: its pods only add to stable's, which keeps
	// its count until promotion rolls it out.
	return s.Replicas - resolve(s.MaxUnavailable, s.Replicas, false)
}

// Outcome is what a scenario must end in.
type Outcome struct {
	Exit    int
	Version string // production's release: "7" or "8"
}

func (o Outcome) String() string { return fmt.Sprintf("exit %d with %s", o.Exit, o.Version) }

// accepted are the outcomes the fault allows; the first is the one to
// expect when the exit code matches none.
func (s Scenario) accepted() []Outcome {
	switch {
	case s.Fault == APIServerRestart && s.RestartAt != "":
		// Wherever the API server goes away, cutover must ride it out or
		// fail cleanly: refuse before any change, or roll back.
		return []Outcome{{exitOK, "8"}, {exitRefused, "7"}, {exitRolledBack, "7"}}
	case s.Fault == APIServerRestart:
		// While cutover waits it rides the restart out, unless the
		// EndpointSlice controller, lagging after the restart, still
		// routes to the old pods when Verify runs: then it fails the
		// check and rolls back, cleanly.
		return []Outcome{{exitOK, "8"}, {exitRolledBack, "7"}}
	}
	return []Outcome{s.want()}
}

// outcome picks the accepted outcome of an exit code.
func (s Scenario) outcome(exit int) (Outcome, bool) {
	all := s.accepted()
	for _, o := range all {
		if o.Exit == exit {
			return o, true
		}
	}
	return all[0], false
}

// outlivesGrace reports whether the fault lasts longer than the old pods
// serve once deleted: a frozen EndpointSlice controller then routes
// requests to pods that have stopped, which only the pause of the
// rollout, not any write, keeps few. Such runs report their failed
// requests instead of failing on them.
func (s Scenario) outlivesGrace() bool {
	return s.Fault == ControllerFreeze && s.FreezeFor >= time.Duration(s.Grace)*time.Second
}

// want is the outcome the fault calls for.
func (s Scenario) want() Outcome {
	switch s.Fault {
	case Kill, APIServerRestart, LockDeadHolder, ControllerFreeze, None, TraefikRestart:
		return Outcome{Exit: exitOK, Version: "8"}
	case LockOtherHost:
		return Outcome{Exit: exitRefused, Version: "7"}
	case CheckProd:
		return Outcome{Exit: exitRolledBack, Version: "7"}
	}
	if s.Strategy != BlueGreen { // rolling rolls back; a canary aborts
		return Outcome{Exit: exitRolledBack, Version: "7"}
	}
	return Outcome{Exit: exitFailed, Version: "7"} // blue/green: production untouched
}

// cutover's exit codes (cmd/cutover/main.go).
const (
	exitOK         = 0
	exitFailed     = 1
	exitRefused    = 3
	exitRolledBack = 4
)
