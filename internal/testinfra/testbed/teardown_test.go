package testbed_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

const crashChildEnv = "CUTOVER_TESTBED_CRASH_CHILD"

func TestStopLeavesNoProcess(t *testing.T) {
	testbed.Require(t, cluster) // starts a control plane of its own
	t.Parallel()
	c, err := testbed.Start(context.Background(), testbed.Options{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	pids := c.PIDs()
	if len(pids) != 6 {
		t.Fatalf("want 6 components, got %v", pids)
	}
	assertAlive(t, pids)
	// A frozen component must not keep Stop waiting, nor be left behind.
	if _, err := c.Freeze(testbed.EndpointSliceController); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, pids, 0)
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working dir %s left behind: %v", c.Dir(), err)
	}
}

// TestPanickingTestLeavesNoProcess runs a child test binary that starts a
// control plane and panics without stopping it; every component must die
// with it.
func TestPanickingTestLeavesNoProcess(t *testing.T) {
	testbed.Require(t, cluster) // starts a control plane of its own
	t.Parallel()
	cmd, out := startChild(context.Background(), t, "TestCrashChild", crashChildEnv)
	var pids map[string]int
	var log strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(&log, line)
		if rest, ok := strings.CutPrefix(line, "PIDS "); ok {
			if err := json.Unmarshal([]byte(rest), &pids); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("child should have panicked:\n%s", log.String())
	}
	if len(pids) != 6 {
		t.Fatalf("child reported %v:\n%s", pids, log.String())
	}
	assertGone(t, pids, 5*time.Second)
}

func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("only runs as the child of TestPanickingTestLeavesNoProcess")
	}
	c, err := testbed.Start(context.Background(), testbed.Options{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c.PIDs())
	fmt.Printf("PIDS %s\n", b)
	_ = os.RemoveAll(c.Dir()) // the only cleanup; the processes are left to Pdeathsig
	panic("simulated test panic with the test bed running")
}

// startChild runs this test binary again with only the test named run, and
// env set to 1, and returns it and its output, stderr included.
func startChild(ctx context.Context, t *testing.T, run, env string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+run+"$", "-test.v")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

func assertAlive(t *testing.T, pids map[string]int) {
	t.Helper()
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("%s (pid %d) not running before stop: %v", name, pid, err)
		}
	}
}

// assertGone checks that no process of pids is still running, waiting up to
// grace. An exited process that its new parent has not reaped yet (state Z)
// counts as gone: it runs nothing and holds no port.
func assertGone(t *testing.T, pids map[string]int, grace time.Duration) {
	t.Helper()
	deadline := time.Now().Add(grace)
	for name, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Errorf("%s (pid %d) still running after teardown", name, pid)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
