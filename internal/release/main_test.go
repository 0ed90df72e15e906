package release_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var cluster *testbed.Cluster

func TestMain(m *testing.M) { os.Exit(testbed.Run(m, &cluster)) }

// testCtx is a context for one test's API calls.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// proxied returns a client that talks to the API server through a
// counting proxy, which the test may count requests on or close.
func proxied(t *testing.T) (kubernetes.Interface, *testbed.CountingProxy) {
	t.Helper()
	p, err := cluster.StartCountingProxy(strings.ReplaceAll(t.Name(), "/", "_"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c, err := p.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

// exported renders a record's exported fields, to compare records.
func exported(t *testing.T, r *release.Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
