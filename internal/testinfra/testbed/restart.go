package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// RestartOptions configure RestartAPIServer. The zero value is a graceful
// restart (SIGTERM) with no extra downtime.
type RestartOptions struct {
	// Kill stops the API server with SIGKILL, as a crash would, instead of
	// SIGTERM and its graceful shutdown.
	Kill bool
	// Down is how long the API server stays down before it starts again.
	Down time.Duration
}

// RestartResult says when the API server went down and came back.
type RestartResult struct {
	// Stopping is when the signal was sent; Stopped when the old process had
	// exited; Ready when the new one answered /readyz.
	Stopping, Stopped, Ready time.Time
}

// RestartAPIServer stops kube-apiserver and starts it again with the same
// binary, flags, port, certificates and tokens, on the same etcd data, and
// returns once it is ready again. Clients built from Config or Kubeconfig
// keep working: client-go reconnects and informers' watches resume. The
// stopped server's log is kept as kube-apiserver.<n>.log in Dir.
//
// It must not run concurrently with Stop, PIDs or LogTails. The other
// components are not restarted: they reconnect on their own, as they would
// after an API server upgrade.
func (c *Cluster) RestartAPIServer(ctx context.Context, opts RestartOptions) (RestartResult, error) {
	const name = "kube-apiserver"
	i := c.procIndex(name)
	if i < 0 {
		return RestartResult{}, fmt.Errorf("restart %s: not running", name)
	}
	old := c.procs[i]
	res := RestartResult{Stopping: time.Now()}
	if err := stopFor(old, opts.Kill); err != nil {
		return res, fmt.Errorf("restart %s: %w", name, err)
	}
	res.Stopped = time.Now()
	if err := keepLog(old); err != nil {
		return res, fmt.Errorf("restart %s: %w", name, err)
	}
	if err := sleep(ctx, opts.Down); err != nil {
		return res, fmt.Errorf("restart %s: %w", name, err)
	}
	p, err := startProcess(c.dir, name, old.cmd.Path, old.cmd.Args[1:]...)
	if err != nil {
		return res, fmt.Errorf("restart %s: %w", name, err)
	}
	c.procs[i] = p // Stop stops it in the old one's place
	err = waitHealthy(ctx, p, healthCheck{url: c.APIServerURL() + "/readyz", token: c.pki.adminToken, ca: c.pki.caPEM})
	if err != nil {
		return res, fmt.Errorf("restart %s: %w\n%s", name, err, p.tail(20))
	}
	res.Ready = time.Now()
	c.log.Info("kube-apiserver restarted", "down", res.Ready.Sub(res.Stopping).Round(time.Millisecond))
	return res, nil
}

func (c *Cluster) procIndex(name string) int {
	for i, p := range c.procs {
		if p.name == name {
			return i
		}
	}
	return -1
}

// stopFor stops p gracefully, or kills it at once, and waits until it has
// exited.
func stopFor(p *process, kill bool) error {
	if !kill {
		return p.stop(30 * time.Second)
	}
	if p.exited() {
		return nil
	}
	if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.name, p.pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, p.pid())
	}
}

// keepLog renames an exited process's log to the first free
// <name>.<n>.log, so that its restart starts a fresh log.
func keepLog(p *process) error {
	for n := 1; ; n++ {
		dst := fmt.Sprintf("%s.%d.log", p.logPath[:len(p.logPath)-len(".log")], n)
		if _, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) {
			return os.Rename(p.logPath, dst)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
