package chaos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/output"
)

// describe is an event.Event on one line, for the timeline.
func describe(e event.Event) string {
	s := strings.TrimSpace(strings.Join([]string{string(e.Type), e.Stage, e.Object, e.Action, e.Status}, " "))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Error != "" {
		s += ": error: " + e.Error
	}
	return s
}

// run is one cutover process.
type run struct {
	args    []string
	started time.Time
	ended   time.Time
	exit    int // -1 when killed
	killed  time.Time
	events  []event.Event
	stdout  string
	stderr  string
}

// proc is a running cutover.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	killed time.Time
}

// kill sends SIGKILL, as an OOM killer or a cancelled CI job would. It
// reports false when the process had already exited.
func (p *proc) kill() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed.IsZero() && p.cmd.Process.Signal(syscall.SIGKILL) == nil {
		p.killed = time.Now()
	}
	return !p.killed.IsZero()
}

func (p *proc) killedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// runCutover runs the binary with args and calls onEvent with each JSON
// event.Event as it is printed, from one goroutine, in order. It returns once the
// process has exited and been reaped (so its pid is free: a rerun may judge
// it dead).
func runCutover(ctx context.Context, args []string, onEvent func(*proc, event.Event)) (*run, error) {
	cmd := exec.CommandContext(ctx, cutoverBin, args...)
	cmd.Env = cutoverEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	r := &run{args: args, started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start cutover: %w", err)
	}
	p := &proc{cmd: cmd}
	var stdout bytes.Buffer
	readEvents(io.TeeReader(out, &stdout), func(e event.Event) {
		r.events = append(r.events, e)
		if onEvent != nil {
			onEvent(p, e)
		}
	})
	err = cmd.Wait()
	r.ended, r.stdout, r.stderr = time.Now(), stdout.String(), stderr.String()
	r.killed = p.killedAt()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.exit = exit.ExitCode()
	default:
		return r, fmt.Errorf("cutover: %w", err)
	}
	return r, nil
}

// readEvents calls fn with every JSON line of r; other lines are skipped.
func readEvents(r io.Reader, fn func(event.Event)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if e, err := output.ParseJSON(sc.Bytes()); err == nil {
			fn(e)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// cutoverEnv is the test's environment without the CI variables that
// would change the lock holder's name.
func cutoverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "BUILD_TAG", "GITHUB_RUN_ID", "CI_JOB_ID", "KUBECONFIG":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// stageFinished returns the first stage.finished event.Event of stage with
// status, if any.
func (r *run) stageFinished(stage, status string) (event.Event, bool) {
	for _, e := range r.events {
		if e.Type == event.StageFinished && e.Stage == stage && e.Status == status {
			return e, true
		}
	}
	return event.Event{}, false
}

// restored reports whether the run restored a Deployment's previous
// revision.
func (r *run) restored() bool {
	for _, e := range r.events {
		if e.Type == event.Rollback && e.Status != "failed" {
			return true
		}
	}
	return false
}

// firstFailure is the first stage that failed.
func (r *run) firstFailure() (event.Event, bool) {
	for _, e := range r.events {
		if e.Type == event.StageFinished && e.Status == "failed" {
			return e, true
		}
	}
	return event.Event{}, false
}

// log is the run for a test log: command, exit, output.
func (r *run) log() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cutover %s\n  exit %d after %s", strings.Join(r.args, " "), r.exit, r.ended.Sub(r.started).Round(time.Millisecond))
	if !r.killed.IsZero() {
		fmt.Fprintf(&b, " (killed %s after start)", r.killed.Sub(r.started).Round(time.Millisecond))
	}
	b.WriteString("\n")
	for _, e := range r.events {
		fmt.Fprintf(&b, "  %s %s\n", e.Time.Format("15:04:05.000"), describe(e))
	}
	if s := strings.TrimSpace(r.stderr); s != "" {
		fmt.Fprintf(&b, "  stderr: %s\n", s)
	}
	return b.String()
}
