package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Command defaults and bounds.
const (
	// DefaultMaxOutput is how much of the end of a command's combined output
	// Command keeps when MaxOutput is zero.
	DefaultMaxOutput = 64 << 10
	// DefaultKillGrace is how long a command's process group has between
	// SIGTERM and SIGKILL when the attempt ends, when KillGrace is zero.
	DefaultKillGrace = time.Second

	maxNameCommand = 60  // runes of the command line shown in Name
	maxTailLines   = 3   // output lines quoted in a Detail
	maxTailBytes   = 240 // bytes of output quoted in a Detail
	drainTimeout   = time.Second
)

// Command runs a local command, a smoke test for example, and passes when it
// exits 0. The command runs in its own process group, which is killed when
// the command exits or the attempt ends, so that nothing it started outlives
// the attempt. It is safe for concurrent use as long as its fields are not
// changed.
type Command struct {
	// Run is a shell command line, run with "sh -c". Set Run or Args.
	Run string
	// Args is a program and its arguments, run without a shell.
	Args []string
	// Env is added to the process environment, overriding variables of the
	// same name: TARGET_ROLE, TEST_URL, APP, NAMESPACE... Its values never
	// appear in Name or Result.
	Env map[string]string
	// Dir is the working directory; default the current one.
	Dir string
	// Label overrides Name; it must not hold credentials.
	Label string
	// MaxOutput bounds how many bytes of the end of the combined stdout and
	// stderr are kept; default DefaultMaxOutput.
	MaxOutput int
	// KillGrace is how long the process group has to exit after SIGTERM,
	// when the attempt ends first, before SIGKILL; default DefaultKillGrace.
	KillGrace time.Duration
	// OnOutput, when set, receives the kept output after each attempt that
	// started the command, whatever its result.
	OnOutput func(output string)
}

// Name describes the check: Label, or "command " and the command line,
// truncated. It never shows Env.
func (c *Command) Name() string {
	if c.Label != "" {
		return c.Label
	}
	line := c.Run
	if line == "" {
		line = strings.Join(c.Args, " ")
	}
	return "command " + oneLine(line, maxNameCommand)
}

// Validate reports a command that cannot run.
func (c *Command) Validate() error {
	switch {
	case c.Run != "" && len(c.Args) > 0:
		return errors.New("command: set run or args, not both")
	case c.Run == "" && len(c.Args) == 0:
		return errors.New("command: no command to run")
	case c.Run == "" && c.Args[0] == "":
		return errors.New("command: args[0] is empty")
	}
	return nil
}

// Probe runs the command once. Detail is "exit 0", "exit 3: <end of the
// output>", "timed out after 5s[: <end of the output>]" or why it could not
// start.
func (c *Command) Probe(ctx context.Context) Result {
	if err := c.Validate(); err != nil {
		return Result{Detail: err.Error()}
	}
	start := time.Now()
	out, err := c.run(ctx)
	if c.OnOutput != nil && out != nil {
		c.OnOutput(string(out))
	}
	return c.result(ctx, start, out, err)
}

// run starts the command, waits for it and sweeps its process group. out
// is nil when the command did not start.
func (c *Command) run(ctx context.Context) ([]byte, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	defer r.Close()
	cmd := c.command(ctx, w)
	err = cmd.Start()
	w.Close() // the children hold the write end now
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{max: c.maxOutput()}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(tail, r)
	}()
	err = cmd.Wait()
	killGroup(cmd.Process.Pid, syscall.SIGKILL) // what the command left running
	drain(r, copied)
	return tail.Bytes(), err
}

func (c *Command) command(ctx context.Context, out *os.File) *exec.Cmd {
	var cmd *exec.Cmd
	if c.Run != "" {
		cmd = exec.CommandContext(ctx, "sh", "-c", c.Run)
	} else {
		cmd = exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	}
	cmd.Dir = c.Dir
	cmd.Env = c.environ()
	cmd.Stdout, cmd.Stderr = out, out // an *os.File: no copying goroutine for Wait to wait on
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid, syscall.SIGTERM)
		return nil
	}
	cmd.WaitDelay = c.killGrace() // then exec kills the leader, and run the group
	return cmd
}

// environ is the process environment with Env added in a stable order; on
// duplicate keys exec keeps the last value.
func (c *Command) environ() []string {
	env := os.Environ()
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+c.Env[k])
	}
	return env
}

func (c *Command) maxOutput() int {
	if c.MaxOutput <= 0 {
		return DefaultMaxOutput
	}
	return c.MaxOutput
}

func (c *Command) killGrace() time.Duration {
	if c.KillGrace <= 0 {
		return DefaultKillGrace
	}
	return c.KillGrace
}

// result judges a finished run.
func (c *Command) result(ctx context.Context, start time.Time, out []byte, err error) Result {
	if err == nil {
		return Result{OK: true, Detail: "exit 0"}
	}
	tail := outputTail(out)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return Result{Detail: withTail(stoppedAfter(ctx, ctxErr, start), tail)}
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return Result{Detail: withTail(exitDetail(exitErr), tail)}
	case out == nil:
		return Result{Detail: "start: " + err.Error()}
	default:
		return Result{Detail: withTail(err.Error(), tail)}
	}
}

// stoppedAfter says how long the attempt had when ctx ended: "timed out
// after 5s" or "canceled after 1.2s".
func stoppedAfter(ctx context.Context, err error, start time.Time) string {
	if errors.Is(err, context.DeadlineExceeded) {
		d := time.Since(start)
		if deadline, ok := ctx.Deadline(); ok {
			d = deadline.Sub(start)
		}
		return "timed out after " + roundDuration(d).String()
	}
	return "canceled after " + roundDuration(time.Since(start)).String()
}

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

func exitDetail(e *exec.ExitError) string {
	if ws, ok := e.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("exit %d", e.ExitCode())
}

func withTail(detail, tail string) string {
	if tail == "" {
		return detail
	}
	return detail + ": " + tail
}

// killGroup signals the process group led by pid; a group already gone is
// not an error worth reporting.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}

// drain waits for the output copy to end; a process that left the group
// (setsid) may still hold the pipe, so after drainTimeout the read end is
// closed under it.
func drain(r *os.File, copied <-chan struct{}) {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-copied:
	case <-t.C:
		r.Close()
		<-copied
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max { // trim now and then, not on every write
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// Bytes returns the kept output, never nil.
func (t *tailBuffer) Bytes() []byte {
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

// ansiEscape matches terminal colour and cursor sequences.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// outputTail is the end of a command's output for a Detail.
func outputTail(out []byte) string { return tailLines(string(out), maxTailLines) }

// tailLines returns the last n non-blank lines of text, up to about
// maxTailBytes, joined with " | ", without terminal escapes or control
// characters.
func tailLines(text string, n int) string {
	lines := strings.Split(ansiEscape.ReplaceAllString(text, ""), "\n")
	var kept []string
	size := 0
	for i := len(lines) - 1; i >= 0 && len(kept) < n; i-- {
		line := lastRedraw(lines[i])
		if line == "" {
			continue
		}
		if size > 0 && size+len(line) > maxTailBytes {
			break
		}
		kept = append(kept, line)
		size += len(line) + 3
	}
	slices.Reverse(kept)
	return oneLine(strings.Join(kept, " | "), maxTailBytes)
}

// lastRedraw keeps what a terminal would show of a line that redraws itself
// with carriage returns, cleaned of control characters.
func lastRedraw(line string) string {
	line = strings.TrimRight(line, "\r")
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	return oneLine(line, maxTailBytes)
}
