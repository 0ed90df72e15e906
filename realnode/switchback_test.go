package realnode

import (
	"context"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testinfra/testbed"
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
	bg := newBlueGreen(t, ns, app{Replicas: 2, OnSigterm: "exit", PreStopSleep: 3}, "5s")
	if r := bg.deploy(ctx, "7"); r.exit != 0 {
		t.Fatalf("deploy 7: exit %d\n%s", r.exit, r.log())
	}
	u := startUsers(ctx, userOptions{URL: clusterURL(ctx, t, ns), Dial: cluster.DialUser})
	time.Sleep(time.Second)
	r := bg.deploy(ctx, "8", "--verify-command", `test "$CUTOVER_STAGE" = staged`, "--verify-attempts", "2", "--verify-interval", "500ms")
	time.Sleep(10 * time.Second)
	res := u.done()
	if r.exit != 4 {
		t.Fatalf("deploy 8: exit %d, want 4 (switched back)\n%s", r.exit, r.log())
	}
	back, ok := r.finished("Switch Back")
	if !ok {
		t.Fatalf("no Switch Back:\n%s", r.log())
	}
	for _, k := range []string{fresh, kept} {
		l := res.by[k]
		t.Logf("%s: %s; the failed color answered requests sent up to %s after the switch back", k, l,
			l.LastSent["Tomcat/8"].Sub(back).Round(time.Millisecond))
		if l.Failures > 0 {
			t.Errorf("%s: %d requests failed: %q", k, l.Failures, l.FailureDetails)
		}
	}
}
