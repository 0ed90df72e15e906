// Command cutover deploys to Kubernetes without dropping traffic: rolling
// updates watched until they are really done and rolled back when they are
// not, and blue/green releases verified before and after the switch.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	"github.com/cutover/cutover/internal/strategy"
)

// Exit codes. Decided here and nowhere else; documented in --help and the
// README.
const (
	exitOK             = 0
	exitFailed         = 1 // failed, and not rolled back (--no-rollback, or nothing to roll back to)
	exitUsage          = 2 // bad flags or arguments
	exitBadInput       = 3 // refused before any change: bad input, unreachable cluster, no permission
	exitRolledBack     = 4 // failed, and rolled back to the previous revision
	exitTimeout        = 5 // --timeout ran out (rolled back unless --no-rollback)
	exitRollbackFailed = 6 // failed, and the rollback failed too: a person is needed
)

const exitCodesHelp = `Exit codes:
  0  succeeded (with deploy --until confirm: staged, pending a promote)
  1  failed, not rolled back (--no-rollback, or nothing to roll back to)
  2  bad flags or arguments
  3  refused before any change: bad input, unreachable cluster, no permission
  4  failed and rolled back to the previous revision
  5  timed out (rolled back unless --no-rollback)
  6  failed and the rollback failed too`

func main() {
	quietClientGo()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
}

// quietClientGo stops client-go's klog from writing its own lines (such
// as "Couldn't get current server API group list") to stderr beside
// cutover's error: every failure reaches the user once, through cutover.
func quietClientGo() {
	klog.SetLogger(logr.Discard())
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
}

// streams are the command's standard input and outputs.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

func run(ctx context.Context, args []string, s streams) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(root.ErrOrStderr(), "error:", errorText(err))
	return exitCode(err)
}

func exitCode(err error) int {
	switch {
	case isUsage(err):
		return exitUsage
	case strategy.IsRollbackFailure(err):
		return exitRollbackFailed
	case errors.Is(err, context.DeadlineExceeded):
		return exitTimeout
	case strategy.IsRolledBack(err):
		return exitRolledBack
	case isBadInput(err):
		return exitBadInput
	}
	return exitFailed
}

// forbiddenIsBadInput marks a refused request as bad input: used where the
// request was the command's only write, so nothing changed.
func forbiddenIsBadInput(err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return badInput{err}
	}
	return err
}

// badInput marks errors found before anything was changed.
type badInput struct{ err error }

func (e badInput) Error() string { return e.err.Error() }
func (e badInput) Unwrap() error { return e.err }

func isBadInput(err error) bool {
	var b badInput
	return errors.As(err, &b) || errors.Is(err, strategy.ErrRefused)
}
