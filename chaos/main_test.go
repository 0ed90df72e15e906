package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cutover/cutover/internal/testinfra/gobuild"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var (
	cluster *testbed.Cluster
	// cutoverBin is the cutover binary, built once for the package.
	cutoverBin string
)

var (
	flagN    = flag.Int("chaos.n", len(cases), "number of scenarios")
	flagSeed = flag.Uint64("chaos.seed", 1, "seed of the first scenario; scenario i has seed chaos.seed+i")
	// flagRestartAt explores API server restarts at other moments than the
	// wait for the rollout; the outcome is then free among riding it out,
	// refusing before any change and rolling back.
	flagFault = flag.String("chaos.fault", "", "give every scenario this fault (e.g. apiserver-restart, controller-freeze), on rolling for even seeds and blue-green for odd ones (none and bad-canary: canary), instead of the seed's own; no regression seeds are added")
	// flagGuard turns cutover's endpoint drift guard off, to measure what
	// it does.
	flagGuard = flag.Bool("chaos.guard", true, "run cutover with its endpoint drift guard (--endpoint-guard)")
	// flagCanary runs canary releases on the seeds instead of the seeds'
	// own cases, which never are (see canarySeeds).
	flagGateway = flag.Bool("chaos.gateway", false, "make every scenario a canary through the test bed's gateway (needs CUTOVER_GATEWAY_BIN and root), its fault -chaos.fault or, without it, one of "+faultList(gatewayFaults)+" by seed; no regression seeds are added")
	flagCanary  = flag.Bool("chaos.canary", false, "make every scenario a canary release, its fault -chaos.fault or, without it, one of "+faultList(canaryFaults)+" by seed; no regression seeds are added")
	// flagKillAt explores kills at other stages than the seed's; a canary
	// is killed at its steps unless told.
	flagKillAt    = flag.String("chaos.kill-at", "", "with the kill fault, SIGKILL cutover when this stage starts (e.g. Promote) instead of the seed's stage")
	flagRestartAt = flag.String("chaos.restart-at", "", "restart kube-apiserver when this stage starts (e.g. Switch), or once an object of a kind is applied (e.g. applied:Service), instead of while cutover waits for the rollout")
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cutover-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if testing.Short() {
			return testbed.Run(m, &cluster) // starts nothing; the tests skip
		}
		if cutoverBin, err = build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return testbed.Run(m, &cluster)
	}()
	os.Exit(code)
}

// build compiles cmd/cutover into dir: the scenarios run it as a process,
// to kill it like CI would.
func build(dir string) (string, error) {
	bin := filepath.Join(dir, "cutover")
	if err := gobuild.Build(context.Background(), gobuild.Options{Package: "../cmd/cutover", Out: bin}); err != nil {
		return "", fmt.Errorf("build cutover: %w", err)
	}
	return bin, nil
}
