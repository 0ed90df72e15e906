package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// The users' host: a network namespace outside the cluster, joined to this
// machine by a veth pair on a subnet of its own. Its traffic reaches a
// Service's ClusterIP or a NodePort as a client's would: routed through the
// node, where kube-proxy translates it (and masquerades it, as it comes from
// outside the cluster's CIDR).
const (
	userNetns    = "cutover-user"
	userVeth     = "cutover-user0" // the host's end
	userHostIP   = "10.213.1.1"
	userIP       = "10.213.1.2"
	serviceRange = "10.96.0.0/16" // the API server's --service-cluster-ip-range
)

// createUserHost creates the users' namespace, its veth pair and routes to
// the Services and the pods through this machine.
func createUserHost() error {
	in := []string{"-n", userNetns}
	steps := [][]string{
		{"netns", "add", userNetns},
		{"link", "add", userVeth, "type", "veth", "peer", "name", "eth0", "netns", userNetns},
		{"addr", "add", userHostIP + "/30", "dev", userVeth},
		{"link", "set", userVeth, "up"},
		append(in, "link", "set", "lo", "up"),
		append(in, "addr", "add", userIP+"/30", "dev", "eth0"),
		append(in, "link", "set", "eth0", "up"),
		append(in, "route", "add", serviceRange, "via", userHostIP),
		append(in, "route", "add", RealNodeSubnet, "via", userHostIP),
	}
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	// Routing between the users' veth and the pods' bridge.
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
}

// deleteUserHost deletes the namespace; its end of the veth pair, and so the
// pair, goes with it.
func deleteUserHost() error {
	if _, err := os.Stat("/run/netns/" + userNetns); err != nil {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "del", userNetns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", userNetns, err, out)
	}
	return nil
}

// DialUser dials addr from the users' host, as a client outside the cluster
// would: the connection's socket lives in the users' network namespace.
func (c *Cluster) DialUser(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.DialUserFrom(ctx, 0, network, addr)
}

// DialUserFrom is DialUser from the users' host's local port port (0: any),
// as a client that reuses a port does.
func (c *Cluster) DialUserFrom(ctx context.Context, port int, network, addr string) (net.Conn, error) {
	if c.node == nil {
		return nil, fmt.Errorf("dial %s from the users' host: the test bed has no real node", addr)
	}
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// The thread enters the namespace for the socket's creation and is
		// never unlocked: Go ends it with the goroutine, so no other
		// goroutine runs in the namespace.
		runtime.LockOSThread()
		conn, err := dialIn(ctx, "/run/netns/"+userNetns, port, network, addr)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// dialIn dials from the network namespace at path, from local port port
// (0: any); the calling thread must be locked and is left in it.
func dialIn(ctx context.Context, path string, port int, network, addr string) (net.Conn, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter %s: %w", path, err)
	}
	d := net.Dialer{}
	if port != 0 {
		d.LocalAddr = &net.TCPAddr{Port: port}
	}
	return d.DialContext(ctx, network, addr)
}
