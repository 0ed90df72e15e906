package dashboard

import (
	"os"
	"testing"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var cluster *testbed.Cluster

func TestMain(m *testing.M) { os.Exit(testbed.Run(m, &cluster)) }
