package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// injector injects a scenario's fault around and during the faulted
// deploy, and notes what it did.
type injector struct {
	b    *bed
	mark func(time.Time, string)
	// outage tells the auditor the gateway was down (Auditor.Outage).
	outage func(from, to time.Time)

	mu      sync.Mutex
	done    sync.WaitGroup
	errs    []error
	notes   []string
	restart *testbed.RestartResult
	decided bool // a person's decision was given: the rejection, an abort, a promote
	once    sync.Once
}

func (in *injector) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	in.mu.Lock()
	in.notes = append(in.notes, msg)
	in.mu.Unlock()
	in.mark(time.Now(), "fault: "+msg)
}

func (in *injector) fail(err error) {
	in.mu.Lock()
	in.errs = append(in.errs, err)
	in.mu.Unlock()
}

// before prepares the fault before the deploy starts.
func (in *injector) before(ctx context.Context) error {
	switch in.b.s.Fault {
	case CheckStaged:
		in.b.check.set(checkFailStaged)
	case CheckProd:
		in.b.check.set(checkFailProd)
	case LockDeadHolder:
		pid, err := deadPID()
		if err != nil {
			return err
		}
		host, err := os.Hostname()
		if err != nil {
			return err
		}
		return in.holdLock(ctx, fmt.Sprintf("%s/pid %d", host, pid))
	case LockOtherHost:
		return in.holdLock(ctx, "ci-agent-elsewhere/pid 4242 (jenkins-web-17)")
	}
	return nil
}

// holdLock leaves the app's Lease as a run of holder would: fresh, 60s.
func (in *injector) holdLock(ctx context.Context, holder string) error {
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "cutover-lock-" + in.b.s.appName(),
			Labels: map[string]string{"app.kubernetes.io/managed-by": "cutover", "cutover.dev/app": in.b.s.appName()}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To[int32](60),
			AcquireTime: &now, RenewTime: &now, LeaseTransitions: ptr.To[int32](0)},
	}
	if _, err := cluster.Client.CoordinationV1().Leases(in.b.ns).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("hold lock: %w", err)
	}
	in.note("lease %s held by %q", lease.Name, holder)
	return nil
}

// deadPID returns the pid of a process of this host that has exited and
// been reaped.
func deadPID() (int, error) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("dead pid: %w", err)
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		return 0, fmt.Errorf("dead pid: %d is in use again (%v)", pid, err)
	}
	return pid, nil
}

// onEvent injects faults that wait for a moment of the run.
func (in *injector) onEvent(ctx context.Context, p *proc, e event.Event) {
	s := in.b.s
	switch {
	case s.Fault == Kill && e.Type == event.StageStarted && e.Stage == s.KillAt:
		in.once.Do(func() {
			time.AfterFunc(s.KillDelay, func() {
				if p.kill() {
					in.note("SIGKILL to cutover %s after stage %s started", s.KillDelay, s.KillAt)
				} else {
					in.note("kill missed: cutover had exited %s after stage %s started", s.KillDelay, s.KillAt)
				}
			})
		})
	case s.Fault == APIServerRestart && restartNow(s, e):
		in.once.Do(func() { in.done.Go(func() { in.restartAPIServer(ctx) }) })
	case s.Fault == ControllerFreeze && restartNow(s, e):
		in.once.Do(func() { in.done.Go(func() { in.freezeController(ctx) }) })
	case s.Fault == Reject && e.Type == event.Approval && e.Status == "waiting":
		in.once.Do(func() { in.done.Go(func() { in.reject(ctx) }) })
	case s.Gateway:
		in.onGatewayEvent(ctx, e)
	}
}

// restartNow reports whether e is the moment to restart the API server:
// the start of s.RestartAt, or the first status of the Deployment while
// cutover waits for the new pods.
func restartNow(s Scenario, e event.Event) bool {
	if kind, ok := strings.CutPrefix(s.RestartAt, "applied:"); ok {
		return e.Type == event.ObjectApplied && strings.HasPrefix(e.Object, kind+"/")
	}
	if s.RestartAt != "" {
		return e.Type == event.StageStarted && e.Stage == s.RestartAt
	}
	return e.Type == event.ObjectStatus && e.Stage == waitStage(s) && strings.HasPrefix(e.Object, "Deployment/")
}

// waitStage is the stage in which cutover waits for the new pods: a
// canary's first weight step.
func waitStage(s Scenario) string {
	switch s.Strategy {
	case BlueGreen:
		return "Deploy"
	case Canary:
		return s.stepStages()[0]
	}
	return "Wait"
}

func (in *injector) restartAPIServer(ctx context.Context) {
	in.note("kube-apiserver killed, restarting in %s", in.b.s.RestartDown)
	res, err := cluster.RestartAPIServer(ctx, testbed.RestartOptions{Kill: true, Down: in.b.s.RestartDown})
	if err != nil {
		in.fail(err)
		return
	}
	in.mu.Lock()
	in.restart = &res
	in.mu.Unlock()
	in.note("kube-apiserver ready again after %s down", res.Ready.Sub(res.Stopping).Round(time.Millisecond))
}

// freezeController freezes the EndpointSlice controller for the
// scenario's FreezeFor, then thaws it.
func (in *injector) freezeController(ctx context.Context) {
	f, err := cluster.Freeze(testbed.EndpointSliceController)
	if err != nil {
		in.fail(err)
		return
	}
	in.note("EndpointSlice controller frozen for %s", in.b.s.FreezeFor)
	_ = sleep(ctx, in.b.s.FreezeFor)
	if _, err := f.Thaw(); err != nil {
		in.fail(err)
		return
	}
	in.note("EndpointSlice controller thawed")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (in *injector) reject(ctx context.Context) {
	args := append([]string{"reject", app, "--by", "chaos", "--comment", "seed " + fmt.Sprint(in.b.s.Seed)}, in.b.kube()...)
	r, err := runCutover(ctx, args, nil)
	switch {
	case err != nil:
		in.fail(err)
	case r.exit != exitOK:
		in.fail(fmt.Errorf("cutover reject exited %d: %s", r.exit, r.stderr))
	default:
		in.mu.Lock()
		in.decided = true
		in.mu.Unlock()
		in.note("rejected with `cutover reject`")
	}
}

// restarted reports whether the API server was restarted.
func (in *injector) restarted() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.restart != nil
}

// summary joins the notes of what was injected.
func (in *injector) summary() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return strings.Join(in.notes, "; ")
}

// wait waits for injections still running (an API server restart) and
// returns their errors.
func (in *injector) wait() error {
	in.done.Wait()
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.b.s.Fault == Reject && !in.decided && len(in.errs) == 0 {
		return errors.New("the run never waited for approval: nothing was rejected")
	}
	if in.b.s.Fault == PrometheusStop && !in.decided && len(in.errs) == 0 {
		return errors.New("the canary never waited for a person after Prometheus stopped: nothing was aborted")
	}
	return errors.Join(in.errs...)
}
