package verify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCommandProbe(t *testing.T) {
	t.Setenv("CUTOVER_TEST_INHERITED", "from-parent")
	t.Setenv("APP", "overridden")
	dir := t.TempDir()
	cases := []struct {
		name   string
		check  Command
		ok     bool
		detail string // exact, or a prefix when it ends with "*"
	}{
		{name: "exit 0", check: Command{Run: "echo hello"}, ok: true, detail: "exit 0"},
		{name: "args without a shell", check: Command{Args: []string{"sh", "-c", `test "$0" = sh && exit 0`}}, ok: true, detail: "exit 0"},
		{
			name:   "exit 3 quotes the last lines of combined output",
			check:  Command{Run: "printf 'one\\ntwo\\nthree\\n\\n'; echo 'four ' >&2; exit 3"},
			detail: "exit 3: two | three | four",
		},
		{name: "exit without output", check: Command{Args: []string{"false"}}, detail: "exit 1"},
		{
			name: "env added and overriding the process env",
			check: Command{
				Run: `test "$TARGET_ROLE" = green && test "$TEST_URL" = "http://x/?a=1 b" && ` +
					`test "$APP" = web && test "$CUTOVER_TEST_INHERITED" = from-parent`,
				Env: map[string]string{"TARGET_ROLE": "green", "TEST_URL": "http://x/?a=1 b", "APP": "web"},
			},
			ok: true, detail: "exit 0",
		},
		{name: "dir", check: Command{Run: `test "$(pwd -P)" = "$(cd "$D" && pwd -P)"`, Env: map[string]string{"D": dir}, Dir: dir}, ok: true, detail: "exit 0"},
		{name: "not found", check: Command{Args: []string{"/nonexistent/smoke-test"}}, detail: "start: fork/exec /nonexistent/smoke-test: no such file or directory"},
		{name: "killed by a signal", check: Command{Run: "echo dying; kill -KILL $$"}, detail: "killed by signal 9 (killed): dying"},
		{name: "terminal escapes and redraws cleaned", check: Command{Run: `printf '\033[31mFAIL\033[0m 10%%\r50%%\r100%%\n'; exit 1`}, detail: "exit 1: 100%"},
		{name: "long line cut", check: Command{Run: "printf '%0300d\\n' 0; exit 1"}, detail: "exit 1: " + strings.Repeat("0", maxTailBytes) + "…"},
		{name: "run and args both set", check: Command{Run: "true", Args: []string{"true"}}, detail: "command: set run or args, not both"},
		{name: "nothing to run", check: Command{}, detail: "command: no command to run"},
		{name: "empty program", check: Command{Args: []string{""}}, detail: "command: args[0] is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r := tc.check.Probe(ctx)
			if r.OK != tc.ok || !detailMatches(r.Detail, tc.detail) {
				t.Errorf("Probe = {OK:%v Detail:%q}, want {OK:%v Detail:%q}", r.OK, r.Detail, tc.ok, tc.detail)
			}
		})
	}
}

func detailMatches(got, want string) bool {
	if prefix, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, prefix)
	}
	return got == want
}

// TestCommandTimeoutKillsGroup checks that an attempt that runs out of time
// ends the command and every process it started, also when they ignore
// SIGTERM.
func TestCommandTimeoutKillsGroup(t *testing.T) {
	cases := []struct {
		name string
		run  string
	}{
		{name: "sigterm", run: `sleep 60 & echo $! > "$PIDFILE"; echo started; wait`},
		{name: "sigterm ignored", run: `trap '' TERM; sleep 60 & echo $! > "$PIDFILE"; echo started; wait`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			c := &Command{Run: tc.run, Env: map[string]string{"PIDFILE": pidFile}, KillGrace: 200 * time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			r := c.Probe(ctx)
			elapsed := time.Since(start)
			// The detail gives the time the attempt had: from Probe's
			// start, a moment after the context was made, to its
			// deadline (499ms on a loaded machine).
			var had int
			_, err := fmt.Sscanf(r.Detail, "timed out after %dms: started", &had)
			if r.OK || err != nil || had < 400 || had > 500 || !strings.HasSuffix(r.Detail, ": started") {
				t.Errorf("Probe = {OK:%v Detail:%q}, want a time-out after at most 500ms quoting the output", r.OK, r.Detail)
			}
			if elapsed > 3*time.Second {
				t.Errorf("Probe took %s after a 500ms time-out", elapsed)
			}
			assertGone(t, readPID(t, pidFile))
		})
	}
}

// TestCommandLeftoversKilled checks that background processes do not outlive
// a command that exited, and do not hold the attempt open.
func TestCommandLeftoversKilled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := &Command{Run: `sleep 60 & echo $! > "$PIDFILE"; echo done`, Env: map[string]string{"PIDFILE": pidFile}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if r := c.Probe(ctx); !r.OK || r.Detail != "exit 0" {
		t.Errorf("Probe = %+v, want exit 0", r)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Probe took %s; the background sleep held it", elapsed)
	}
	assertGone(t, readPID(t, pidFile))
}

// TestCommandEscapedHolderBounded checks that a process that left the group
// and still holds the output pipe delays the attempt by drainTimeout at most.
func TestCommandEscapedHolderBounded(t *testing.T) {
	c := &Command{Run: "setsid sleep 3 & sleep 0.2; exit 0"} // the pause lets setsid run before the sweep
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if r := c.Probe(ctx); !r.OK {
		t.Errorf("Probe = %+v, want OK", r)
	}
	if elapsed := time.Since(start); elapsed > drainTimeout+time.Second {
		t.Errorf("Probe took %s, want about %s", elapsed, drainTimeout)
	}
}

func TestCommandCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	r := (&Command{Run: "sleep 60"}).Probe(ctx)
	if r.OK || !strings.HasPrefix(r.Detail, "canceled after ") {
		t.Errorf("Probe = %+v, want canceled", r)
	}
}

func TestCommandOutput(t *testing.T) {
	var got []string
	c := &Command{
		Run:       "i=0; while [ $i -lt 100 ]; do echo line$i; i=$((i+1)); done; exit 1",
		MaxOutput: 20,
		OnOutput:  func(out string) { got = append(got, out) },
	}
	r := c.Probe(context.Background())
	if r.OK || r.Detail != "exit 1: ine97 | line98 | line99" {
		t.Errorf("Probe = %+v", r)
	}
	want := "ine97\nline98\nline99\n" // the last MaxOutput bytes
	if len(got) != 1 || got[0] != want {
		t.Errorf("OnOutput got %q, want one call with %q", got, want)
	}

	got = nil
	(&Command{Args: []string{"/nonexistent"}, OnOutput: func(out string) { got = append(got, out) }}).Probe(context.Background())
	if got != nil {
		t.Errorf("OnOutput called for a command that did not start: %q", got)
	}
}

func TestCommandName(t *testing.T) {
	secret := "s3cr3t-token-value"
	cases := []struct {
		check Command
		want  string
	}{
		{Command{Run: "./smoke.sh", Env: map[string]string{"API_TOKEN": secret}}, "command ./smoke.sh"},
		{Command{Args: []string{"go", "test", "./e2e"}, Env: map[string]string{"PASSWORD": secret}}, "command go test ./e2e"},
		{Command{Run: "curl -fsS \"$TEST_URL\"\n  | grep ok"}, "command curl -fsS \"$TEST_URL\"   | grep ok"},
		{Command{Run: strings.Repeat("x", 100)}, "command " + strings.Repeat("x", maxNameCommand) + "…"},
		{Command{Run: "./smoke.sh", Label: "smoke tests"}, "smoke tests"},
	}
	for _, tc := range cases {
		got := tc.check.Name()
		if got != tc.want {
			t.Errorf("Name() = %q, want %q", got, tc.want)
		}
		if strings.Contains(got, secret) {
			t.Errorf("Name() = %q shows an Env value", got)
		}
	}
}

// TestCommandUnderRun checks a command under Run's policy: a time-out is
// one failed attempt, and a later attempt may pass.
func TestCommandUnderRun(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "marker")
	// The first attempt hangs, the second passes.
	c := &Command{Run: `if [ -e "$M" ]; then exit 0; fi; touch "$M"; sleep 60`, Env: map[string]string{"M": marker}, KillGrace: 100 * time.Millisecond}
	var attempts []Attempt
	err := Run(context.Background(), c, Policy{Attempts: 3, Interval: 10 * time.Millisecond, Timeout: 300 * time.Millisecond},
		func(a Attempt) { attempts = append(attempts, a) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(attempts) != 2 || attempts[0].Result.Detail != "timed out after 300ms" || attempts[1].Result.Detail != "exit 0" {
		t.Errorf("attempts = %+v", attempts)
	}

	err = Run(context.Background(), &Command{Run: "echo nope; exit 2"}, Policy{Attempts: 2, Interval: time.Millisecond}, nil)
	if !errors.Is(err, ErrCheckFailed) || !strings.HasSuffix(err.Error(), "exit 2: nope") {
		t.Errorf("Run = %v, want ErrCheckFailed with the detail", err)
	}
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("child pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("child pid %q: %v", b, err)
	}
	return pid
}

// assertGone fails unless pid has exited. An orphan is reaped by init, if
// init reaps at all, so a zombie counts as gone.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if !alive(pid) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child process %d still runs after the attempt", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) == 0 || fields[0] != "Z"
}
