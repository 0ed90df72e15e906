// Package chaos holds randomized end-to-end runs of cutover on the test bed:
// each scenario deploys version 7 of a Tomcat app cleanly, then deploys
// version 8 under steady load (200 requests a second through the data
// plane) with exactly one fault injected, and judges the run with the
// invariant auditor (internal/testinfra/audit), the exit code the fault calls for and
// the state production is left in.
//
// Run it with the test bed's binaries:
//
//	CUTOVER_TESTBED_BIN=$(upstream/build.sh) go test -race ./chaos/                       # CI: 14 seeded scenarios and the fixed ones
//	CUTOVER_TESTBED_BIN=$(upstream/build.sh) go test -race ./chaos/ -chaos.n=50 -chaos.seed=7
//	CUTOVER_TESTBED_BIN=$(upstream/build.sh) go test -race ./chaos/ -run 'TestChaos/seed-500'  # the canary scenarios only
//
// A scenario is a pure function of its seed (chaos_test.go: generate), so a
// failing seed reruns alone with -chaos.n=1 -chaos.seed=<seed>.
//
// Scenarios mix the strategy (rolling or blue-green; canary, below), 1 to 10 replicas,
// readiness delays with jitter, termination delays, and for rolling updates
// maxSurge and maxUnavailable. maxUnavailable is kept to what zero
// downtime allows: it resolves (rounded down, as the Deployment controller
// does) to fewer than the replicas, and when it resolves to 0, maxSurge
// resolves to at least 1 (else the controller itself makes maxUnavailable 1,
// which for one replica is 100%). cutover cannot make a Deployment that is
// allowed to take every pod down keep serving.
//
// The faults, and what cutover must do:
//
//	never-ready        new pods never Ready: rolling rolls back (exit 4); blue/green leaves production untouched (exit 1);
//	                   a canary's first weight step fails and it aborts (exit 4), stable untouched
//	crash-loop         new pods crash-loop: the same, at once instead of at the progress deadline
//	check-staged       the check fails before production changes: rolling's Verify (rolls back, exit 4);
//	                   blue/green's Verify Staged (exit 1), through a failing check server or a new
//	                   release that answers 500 (testbed.cutover.dev/http-status)
//	check-prod         blue/green's Verify Prod fails after the switch: switched back (exit 4)
//	reject             blue/green with --approval manual, `cutover reject` while it waits (exit 1)
//	kill               cutover SIGKILLed at a stage, then rerun with the same command: v8 (exit 0); a canary
//	                   is killed at the start of one of its steps, and the rerun resumes after the steps done
//	apiserver-restart  kube-apiserver killed and restarted while cutover waits for the rollout:
//	                   cutover rides it out (exit 0), or fails cleanly and rolls back (exit 4)
//	                   when Verify meets the old pods still routed by a lagging EndpointSlice
//	                   controller; afterwards the scenario waits for the control plane to recover
//	controller-freeze  the EndpointSlice controller frozen (SIGSTOP) for 1-12 s while cutover waits
//	                   for the rollout: cutover never reports success while the slices are stale,
//	                   and leaves no Deployment paused; 0 failed requests when the freeze ends
//	                   within the old pods' grace period (past it, failed requests are counted,
//	                   not judged: no write helps a frozen controller). Not among the seeded cases:
//	                   -chaos.fault=controller-freeze, and two regression scenarios in the CI set
//	lock-dead-holder   the app's Lease held by a dead process of this host: taken over (exit 0)
//	lock-other-host    the Lease held by another host: refused, nothing changed (exit 3)
//	none               canary only: a good canary goes through every step, promotion and scale-down (exit 0)
//	bad-canary         canary only: the new release answers 500 (its pods Ready); the analysis step, the
//	                   users' failed share, fails and the canary aborts (exit 4), stable untouched
//
// After every scenario the app's lock and release records are checked,
// rolling and blue/green alike: no lock left behind, no record left
// running (a rerun closes a killed run's record as interrupted), and the
// final run's record tells its outcome.
//
// Pods get a grace period of 5 to 8 seconds (45 with an API server
// restart): the data plane, like a real app, serves until the end of it,
// and the EndpointSlice controller must have removed the pod's endpoint by
// then. On the test bed it lags pod deletions by up to 1.5s under load, and
// after an API server restart by 15-25s (see scenario_test.go).
//
// -chaos.restart-at=STAGE (or applied:KIND) moves the API server restart to
// the start of a stage, or to right after an object of a kind was applied;
// cutover must then ride it out (exit 0), refuse before any change (3) or
// roll back (4).
//
// Canary releases (--strategy canary, replica mode) are not among the
// seeded cases, whose seeds the README's figures name: the CI set adds
// canarySeeds, 5000 to 5005, with the faults none, bad-canary,
// crash-loop, never-ready, kill and apiserver-restart (while the first
// weight step waits), and -chaos.canary makes every seed a canary
// (-chaos.kill-at moves a kill to another stage, e.g. Promote). The steps
// are a first weight of 10, 25 or 50%, the analysis error-rate, a 1 s
// pause and a second weight of 50 or 100%. About half of the canaries
// without a gateway share stable's pods with the canary
// (--dynamic-stable-scale; drawn after every other value, so the seeds
// kept theirs): 5000, 5002, 5003 and 5004 of the CI set. The analysis is a config file
// check (cutover.yaml in the scenario's directory): a web metric of the
// failed share of the requests the canary's pods answered over the last
// second, from the data plane router's record, which the check server
// serves at /errors; with none answered it is no data, never "no errors"
// (a bad canary was once promoted under overload, measured before the
// router sent to it). A bad canary answers 500 to all of its share.
// Besides the checks every scenario gets (production ends on the release
// the exit code calls for, with its replicas; no lock, no record left
// running), each canary scenario checks that the canary Deployment asks
// for no pod, that stable runs the new release after a success and is
// untouched (template and replicas) when the canary aborted before
// Promote, that the fault failed the stage it must, and the canary
// invariants of the auditor: the Service never routed to a pod that never
// became Ready; when cutover confirmed all traffic on stable (its traffic
// event with status stable, after the abort or the scale-down) the API's
// EndpointSlices, read at once, had no canary pod as a ready endpoint; and
// once the router had left the canary no request reached it. The router
// follows the slices through its own watch, which delivers the revision
// cutover confirmed a millisecond or so before or after cutover's (up to
// a quarter of a second after, seen with the race detector on a loaded
// machine): requests in between are logged as the data plane's lag, with
// the failed requests while the canary ran (a bad canary's users
// see its 500s until the abort: the auditor counts those, and fails the
// scenario on any other failure).
//
// Canaries through the gateway (gateway_test.go; run by make test, which
// builds Traefik; root): the users' requests go through the test bed's
// Traefik, which reaches the pods at their own IPs, and cutover splits
// them with the scenario's HTTPRoute (--route) while a background analysis
// (canary.analysis) of Traefik's own metrics in a real Prometheus, the
// canary Service's 5xx share and mean latency, judges it every second from
// the first weight until promotion. The steps are two weights (10, 25 or
// 50%, then 50 or 100%), each held 4 s. The CI set adds gatewaySeeds, 6001
// to 6004: bad-canary (500s; the error share fails mid-step), slow-canary
// (pods answer after 300 ms; the mean latency fails, no request does),
// prometheus-stop (stopped when the first pause starts: the analysis
// cannot judge, the canary waits for a person and never promotes; the
// injector then runs cutover abort, exit 4) and traefik-restart (Traefik
// SIGKILLed when the second weight starts and started again 0.5-2 s later;
// the release goes on, exit 0; its metrics start again from nothing, and
// should the analysis find no data for too long, it waits for a person,
// and the injector promotes). -chaos.gateway makes every seed one (also
// with none, kill and apiserver-restart). The auditor follows what Traefik
// runs (its API's configuration, read every 20 ms: it has no watch), so
// the drained invariant holds through the gateway too: requests that
// reached the canary after cutover confirmed the route at 100/0 and before
// Traefik ran it are Traefik's lag (58 to 707 ms seen under the race
// detector: a route's status says Traefik accepted it, not that it runs
// it), none after. Requests Traefik itself failed while it was down, sent
// then or cut off by the kill, are counted, not violations. After a
// confirmed abort the route read from the API must give the canary no
// weight.
//
// Rolling updates have no approval or Verify Prod, so the reject and
// check-prod faults are blue/green only; the seeded cases hold blue/green's
// locks, and the CI set adds the two lock faults on rolling updates
// (lockSeeds). A rolling release
// whose new pods answer 500 serves those 500s to users before any check can
// run (that is what rolling means), so rolling's check fault always uses the
// failing check server.
package chaos
