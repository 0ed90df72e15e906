package testbed

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// podRange is the cluster's kwok pod CIDR: one /22 of 198.19.0.0/16
// (RFC 2544's benchmarking range, where nothing real answers), picked by
// the kwok port so that test beds side by side differ (64 blocks; kwok
// hands a freed IP out again first, so 1,022 addresses are plenty).
// EndpointSlices refuse loopback addresses, so pods cannot live in
// 127.0.0.0/8; ReachablePods makes this range local instead.
func (c *Cluster) podRange() string {
	return fmt.Sprintf("198.19.%d.0/22", c.ports.kwok%64*4)
}

// kwokCIDR is podRange as kwok's --cidr takes it: its first address.
func (c *Cluster) kwokCIDR() string {
	return strings.Replace(c.podRange(), ".0/22", ".1/22", 1)
}

// ReachablePods makes every address of the cluster's pod range local to
// this host (a "local" route on lo, as AnyIP does), so that a process can
// listen on a pod's own IP, as the data plane does with
// Options.PodAddresses, and a real gateway reaches the pod where its
// EndpointSlice says it is. The route goes when the cluster stops. It
// needs root (CAP_NET_ADMIN). A route that exists already is another test
// bed's of this host, whose pods share the range: an error, rather than
// a route that goes when the other one stops.
func (c *Cluster) ReachablePods(ctx context.Context) error {
	c.routeMu.Lock()
	defer c.routeMu.Unlock()
	if c.podRoute {
		return nil
	}
	args := []string{"route", "add", "local", c.podRange(), "dev", "lo"}
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "File exists") {
			return fmt.Errorf("pod range %s: another test bed of this host has made it local; run one gateway test bed at a time, or remove a stale route with: ip route del local %s dev lo",
				c.podRange(), c.podRange())
		}
		return fmt.Errorf("ip %s: %w: %s (reachable pods need root)", strings.Join(args, " "), err, out)
	}
	c.podRoute = true
	return nil
}

// RequireReachablePods is ReachablePods for a test, which fails without
// root.
func (c *Cluster) RequireReachablePods(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ReachablePods(ctx); err != nil {
		t.Fatal(err)
	}
}

// removePodRoute undoes ReachablePods.
func (c *Cluster) removePodRoute() error {
	c.routeMu.Lock()
	defer c.routeMu.Unlock()
	if !c.podRoute {
		return nil
	}
	args := []string{"route", "del", "local", c.podRange(), "dev", "lo"}
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	c.podRoute = false
	return nil
}
