package verify

import (
	"os"
	"testing"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// cluster is the package's test bed, for the Job check's tests.
var cluster *testbed.Cluster

func TestMain(m *testing.M) { os.Exit(testbed.Run(m, &cluster)) }
