package release

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// DeadOnThisHost reports whether holder, in the default form
// "<hostname>/pid <pid>", names a process of this host that no longer runs.
// A run killed with SIGKILL leaves its Lease behind; rerun on the same
// machine (the usual case in CI: the same agent retries), it need not wait
// for the Lease to expire. Holders of other hosts, or of other forms, are
// never judged dead: only their Lease's expiry frees them.
func DeadOnThisHost(holder string) bool {
	host, pid, ok := parseHolder(holder)
	if !ok || pid == os.Getpid() {
		return false
	}
	if me, err := os.Hostname(); err != nil || me != host {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func parseHolder(holder string) (host string, pid int, ok bool) {
	host, rest, found := strings.Cut(holder, "/pid ")
	if !found || host == "" {
		return "", 0, false
	}
	if f := strings.Fields(rest); len(f) > 0 {
		rest = f[0] // "4242 (jenkins build 17)"
	}
	pid, err := strconv.Atoi(rest)
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return host, pid, true
}

func (l *Lock) dead(holder string) bool {
	return l.isDead != nil && l.isDead(holder)
}
