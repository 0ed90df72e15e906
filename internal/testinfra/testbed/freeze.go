package testbed

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// Frozen is a component stopped with SIGSTOP: its process and connections
// stay, but it does nothing until Thaw. A frozen controller is what a
// controller stuck in a long retry back-off, starved of CPU or paused by
// its node looks like from outside: its objects go stale.
type Frozen struct {
	p      *process
	Since  time.Time
	thawed sync.Once
	err    error
}

// Freeze stops the named component (see PIDs for the names; the
// EndpointSlice controller runs alone as EndpointSliceController) until
// Thaw. Stop thaws a component it finds frozen.
func (c *Cluster) Freeze(name string) (*Frozen, error) {
	i := c.procIndex(name)
	if i < 0 {
		return nil, fmt.Errorf("freeze %s: not running", name)
	}
	p := c.procs[i]
	if err := signalGroup(p, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("freeze %s: %w", name, err)
	}
	f := &Frozen{p: p, Since: time.Now()}
	c.frozenMu.Lock()
	c.frozen = append(c.frozen, f)
	c.frozenMu.Unlock()
	c.log.Info("component frozen", "name", name)
	return f, nil
}

// Thaw lets the component run again and returns how long it was frozen.
// It is safe to call more than once.
func (f *Frozen) Thaw() (time.Duration, error) {
	f.thawed.Do(func() {
		if err := signalGroup(f.p, syscall.SIGCONT); err != nil {
			f.err = fmt.Errorf("thaw %s: %w", f.p.name, err)
		}
	})
	return time.Since(f.Since), f.err
}

func (c *Cluster) thawAll() {
	c.frozenMu.Lock()
	defer c.frozenMu.Unlock()
	for _, f := range c.frozen {
		_, _ = f.Thaw()
	}
	c.frozen = nil
}

// signalGroup sends sig to the process group of p; a process that has
// exited is not an error.
func signalGroup(p *process, sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	if err := syscall.Kill(-p.pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s to %s (pid %d): %w", sig, p.name, p.pid(), err)
	}
	return nil
}
