package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podRange is the cluster's kwok pod CIDR: one /22 of 198.19.0.0/16
// (RFC 2544's benchmarking range, where nothing real answers), the block
// claimPodBlock took (64 blocks; kwok hands a freed IP out again first, so
// 1,022 addresses are plenty). EndpointSlices refuse loopback addresses,
// so pods cannot live in 127.0.0.0/8; ReachablePods makes this range local
// instead.
func (c *Cluster) podRange() string {
	return fmt.Sprintf("198.19.%d.0/22", c.podBlock*4)
}

// podBlocks is how many /22 blocks 198.19.0.0/16 holds.
const podBlocks = 64

// claimPodBlock takes a pod range no other test bed of this host uses
// while this one runs: an exclusive lock on a file per block, starting
// from one picked by the kwok port, held until Stop. Test beds side by
// side (make test runs two packages at a time) then never share a range,
// whose local route one of them would lack.
func (c *Cluster) claimPodBlock() error {
	dir := filepath.Join(os.TempDir(), "cutover-testbed-podranges")
	if err := os.MkdirAll(dir, 0o1777); err != nil {
		return fmt.Errorf("pod ranges: %w", err)
	}
	_ = os.Chmod(dir, 0o1777) // past the umask: every user's test beds share it; fails unless ours
	for i := range podBlocks {
		block := (c.ports.kwok + i) % podBlocks
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("block-%d.lock", block)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return fmt.Errorf("pod ranges: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue // another test bed's
		}
		c.podBlock, c.podLock = block, f
		return nil
	}
	return fmt.Errorf("pod ranges: all %d blocks of 198.19.0.0/16 are taken by test beds of this host", podBlocks)
}

// releasePodBlock lets another test bed take the range.
func (c *Cluster) releasePodBlock() {
	if c.podLock != nil {
		c.podLock.Close() // the lock goes with the file
		c.podLock = nil
	}
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
// root; it skips the test where no test bed runs (-short).
func (c *Cluster) RequireReachablePods(t testing.TB) {
	t.Helper()
	Require(t, c) // -short started no test bed: skip
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
