package realnode

import (
	"context"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// TestResetConnectionKeepsItsRoute shows, on the real node's data plane,
// why a blue/green switch cannot promise an app that exits at once on
// SIGTERM zero failed requests, whatever the deploy tool does. A process
// that exits with a request unread on a kept-alive connection resets it
// (an RST, no FIN). conntrack keeps such a connection's entry, in state
// CLOSE, for nf_conntrack_tcp_timeout_close (10 s); a new connection from
// the same client address and port within that time matches it and is
// sent where it was sent, to the old pod, not to what the Service selects
// now. (An entry closed with a FIN is re-translated.) Clients behind one
// address reuse ports often: once the old pod has exited, that new
// connection is refused. This is the request that failed, once in five
// full runs, in TestBlueGreenSwitch when its app exited at once; its apps
// now drain.
func TestResetConnectionKeepsItsRoute(t *testing.T) {
	testbed.RequireRealNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := cluster.Namespace(t)
	bg := newBlueGreen(t, ns, app{Replicas: 1, OnSigterm: "drain"}, "5s")
	if r := bg.deploy(ctx, "7"); r.exit != 0 {
		t.Fatalf("deploy 7: exit %d\n%s", r.exit, r.log())
	}
	if r := bg.deploy(ctx, "8", "--until", "confirm", "--idle-policy", "keep"); r.exit != 0 {
		t.Fatalf("deploy 8 --until confirm: exit %d\n%s", r.exit, r.log())
	}
	url := clusterURL(ctx, t, ns)
	const finPort, resetPort = 20001, 20002 // below the ephemeral range: no other socket takes them
	if got := getFrom(ctx, t, finPort, url); !strings.Contains(got, "Tomcat/7") {
		t.Fatalf("before the switch, from port %d: %q, want Tomcat/7", finPort, got)
	}
	reset := time.Now()
	if got := getFrom(ctx, t, resetPort, url+"reset"); !strings.HasPrefix(got, "error") {
		t.Fatalf("/reset from port %d: %q, want the connection reset", resetPort, got)
	}
	if r := cutover(ctx, t, ns, "promote", "web"); r.exit != 0 {
		t.Fatalf("promote: exit %d\n%s", r.exit, r.log())
	}
	waitRouted(ctx, t, url, "Tomcat/8") // kube-proxy's sync, a fraction of a second
	for _, c := range []struct {
		port int
		want string
	}{{resetPort, "Tomcat/7"}, {finPort, "Tomcat/8"}} {
		if got := getFrom(ctx, t, c.port, url); !strings.Contains(got, c.want) {
			t.Errorf("after the switch, %s after the reset, from port %d: %q, want %s",
				time.Since(reset).Round(time.Millisecond), c.port, got, c.want)
		}
	}
	time.Sleep(time.Until(reset.Add(closeTimeout(t) + time.Second)))
	if got := getFrom(ctx, t, resetPort, url); !strings.Contains(got, "Tomcat/8") {
		t.Errorf("once the entry expired, from port %d: %q, want Tomcat/8", resetPort, got)
	}
}

// waitRouted waits until new connections to url reach want.
func waitRouted(ctx context.Context, t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for got := ""; !strings.Contains(got, want); got = getFrom(ctx, t, 0, url) {
		if time.Now().After(deadline) {
			t.Fatalf("new connections still get %q, want %s", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getFrom GETs url from the users' host's local port (0: any) on a
// connection of its own, and returns the response, or "error: ...". It
// reads until the server closes the connection, and only then closes its
// end: the client never holds the port in TIME_WAIT, so the test can bind
// it again at once.
func getFrom(ctx context.Context, t *testing.T, port int, url string) string {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := cluster.DialUserFrom(ctx, port, "tcp", u.Host)
	if err != nil {
		return fmt.Sprintf("error: %v", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", u.RequestURI(), u.Host); err != nil {
		return fmt.Sprintf("error: %v", err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Sprintf("error: %v", err)
	}
	return string(b)
}

// closeTimeout is how long conntrack keeps a reset connection's entry.
func closeTimeout(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close")
	if err != nil {
		t.Fatal(err)
	}
	s, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(s) * time.Second
}
