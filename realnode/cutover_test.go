package realnode

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
	"testing"
	"time"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/output"
)

// run is one finished cutover process.
type run struct {
	exit   int
	events []event.Event
	stderr string
}

// cutover runs cutover with args against the test bed, in namespace ns.
func cutover(ctx context.Context, t *testing.T, ns string, args ...string) *run {
	t.Helper()
	return cutoverWatched(ctx, t, ns, nil, args...)
}

// cutoverWatched is cutover, calling onEvent (if set) with each event as
// cutover prints it.
func cutoverWatched(ctx context.Context, t *testing.T, ns string, onEvent func(event.Event), args ...string) *run {
	t.Helper()
	args = append(args, "-o", "json", "--kubeconfig", cluster.Kubeconfig, "-n", ns)
	cmd := exec.CommandContext(ctx, cutoverBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cutover %v: %v", args, err)
	}
	r := &run{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if e, err := output.ParseJSON(sc.Bytes()); err == nil {
			r.events = append(r.events, e)
			if onEvent != nil {
				onEvent(e)
			}
		}
	}
	_, _ = io.Copy(io.Discard, stdout) // past a line too long to scan
	err = cmd.Wait()
	r.stderr = stderr.String()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.exit = exit.ExitCode()
	case err != nil:
		t.Fatalf("cutover %v: %v", args, err)
	}
	return r
}

// warnings returns the warning events with status.
func (r *run) warnings(status string) []event.Event {
	var out []event.Event
	for _, e := range r.events {
		if e.Type == event.Warning && e.Status == status {
			out = append(out, e)
		}
	}
	return out
}

func (r *run) log() string {
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "%s %s %s %s %s: %s %s\n", e.Type, e.Stage, e.Object, e.Action, e.Status, e.Message, e.Error)
	}
	b.WriteString(r.stderr)
	return b.String()
}

// finished returns when stage finished successfully.
func (r *run) finished(stage string) (time.Time, bool) {
	for _, e := range r.events {
		if e.Type == event.StageFinished && e.Stage == stage && e.Status == "succeeded" {
			return e.Time, true
		}
	}
	return time.Time{}, false
}
