package realnode

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

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cutover-realnode-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if testing.Short() {
			return testbed.Run(m, &cluster) // starts nothing; the tests skip
		}
		cutoverBin = filepath.Join(dir, "cutover")
		if err := gobuild.Build(context.Background(), gobuild.Options{Package: "../cmd/cutover", Out: cutoverBin}); err != nil {
			fmt.Fprintln(os.Stderr, "build cutover:", err)
			return 1
		}
		return testbed.RunWith(m, &cluster, testbed.Options{RealNode: true, Nodes: 3})
	}()
	os.Exit(code)
}
