package realnode

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/dataplane"
	"github.com/cutover/cutover/internal/testbed"
)

// TestBlueGreenSwitchBack fails Verify Prod of Tomcat 8 so that cutover
// switches production back to Tomcat 7, under the users' load, and
// measures how long each kind of connection still reaches the failed color
// afterwards. No request may fail: the switch back is a selector patch that
// kube-proxy follows within milliseconds, and the old color never stopped.
func TestBlueGreenSwitchBack(t *testing.T) {
	testbed.RequireRealNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := cluster.Namespace(t)
	file := filepath.Join(t.TempDir(), "web.yaml")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := colors.Execute(f, app{Replicas: 2, OnSigterm: "exit", PreStopSleep: 3}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	deploy := func(version string, extra ...string) *run {
		args := append([]string{"deploy", "--strategy", "blue-green", "--service", "web", "-f", file,
			"--var", "TOMCAT_VERSION=" + version, "--idle-policy", "scale-down", "--scale-down-delay", "5s", "--timeout", "2m"}, extra...)
		return cutover(ctx, t, ns, args...)
	}
	if r := deploy("7"); r.exit != 0 {
		t.Fatalf("deploy 7: exit %d\n%s", r.exit, r.log())
	}
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"
	waitServing(ctx, t, url, cluster.DialUser)
	loadCtx, stopLoad := context.WithCancel(ctx)
	fresh, kept := make(chan *dataplane.LoadResult, 1), make(chan *dataplane.LoadResult, 1)
	go func() {
		fresh <- dataplane.Load(loadCtx, dataplane.LoadOptions{URL: url, Rate: 100, Dial: cluster.DialUser})
	}()
	go func() {
		kept <- dataplane.Load(loadCtx, dataplane.LoadOptions{URL: url, Rate: 50, Dial: cluster.DialUser, KeepAlive: true})
	}()
	time.Sleep(time.Second)
	r := deploy("8", "--verify-command", `test "$CUTOVER_STAGE" = staged`, "--verify-attempts", "2", "--verify-interval", "500ms")
	time.Sleep(10 * time.Second)
	stopLoad()
	res := loads{fresh: <-fresh, kept: <-kept}
	if r.exit != 4 {
		t.Fatalf("deploy 8: exit %d, want 4 (switched back)\n%s", r.exit, r.log())
	}
	back, ok := r.finished("Switch Back")
	if !ok {
		t.Fatalf("no Switch Back:\n%s", r.log())
	}
	for _, l := range []struct {
		name string
		res  *dataplane.LoadResult
	}{{"new connections", res.fresh}, {"keep-alive", res.kept}} {
		t.Logf("%s: %s; the failed color answered requests sent up to %s after the switch back", l.name, l.res,
			l.res.LastSent["Tomcat/8"].Sub(back).Round(time.Millisecond))
		if l.res.Failures > 0 {
			t.Errorf("%s: %d requests failed: %q", l.name, l.res.Failures, l.res.FailureDetails)
		}
	}
}
