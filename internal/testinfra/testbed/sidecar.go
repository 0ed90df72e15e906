package testbed

import (
	"errors"
	"os"
	"strings"
	"time"
)

// sidecar is a server the test bed runs beside the control plane for a
// test (Prometheus, the gateway's Traefik): one process with a directory
// of its own, whose log's tail outlives it.
type sidecar struct {
	dir     string
	proc    *process
	stopped bool
	lastLog string
}

// stop stops the process, keeps its log's tail and removes the directory.
// A second stop does nothing.
func (s *sidecar) stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	var err error
	if s.proc != nil {
		err = s.proc.stop(5 * time.Second)
		s.lastLog = s.proc.tail(60)
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// Logs are the last n lines of the server's log.
func (s *sidecar) Logs(n int) string {
	if !s.stopped && s.proc != nil {
		return s.proc.tail(n)
	}
	lines := strings.Split(s.lastLog, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
