// Package strategy runs deployments as sequences of named stages over the
// same engine: apply (internal/apply), readiness (internal/readiness), checks
// (internal/verify) and rollback (internal/rollback): rolling updates and
// blue/green releases (their promote and rollback too).
package strategy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cutover/cutover/internal/hint"
)

// ErrRefused wraps errors found before the first write: nothing was changed.
var ErrRefused = errors.New("refused, nothing changed")

// rollbackOff ends the text of a Failure that was not rolled back because
// rollback was switched off.
var rollbackOff = hint.New(hint.NoRollback, "rollback is off")

// Failure is a release that did not succeed after its first write. It says
// whether cutover restored the previous state.
type Failure struct {
	Cause error
	// RolledBack is true when every changed Deployment was restored and is
	// fully available again.
	RolledBack bool
	// RollbackErr is why restoring failed or was impossible; nil when
	// RolledBack or when rollback was switched off.
	RollbackErr error
	// Restored names what was rolled back.
	Restored []string
	// Untouched is true when the release failed before production was
	// changed (blue/green before the switch).
	Untouched bool
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "release failed: %v", f.Cause)
	switch {
	case f.Untouched:
		b.WriteString("; production untouched")
	case f.RolledBack && len(f.Restored) > 0:
		fmt.Fprintf(&b, "; rolled back %s", strings.Join(f.Restored, ", "))
	case f.RolledBack:
		b.WriteString("; nothing to roll back")
	case f.RollbackErr != nil:
		fmt.Fprintf(&b, "; rollback failed: %v", f.RollbackErr)
	default:
		fmt.Fprintf(&b, "; not rolled back: %v", rollbackOff)
	}
	return b.String()
}

// Unwrap returns the cause and, when rollback was switched off, the hint
// that says so.
func (f *Failure) Unwrap() []error {
	if f.rollbackOff() {
		return []error{f.Cause, rollbackOff}
	}
	return []error{f.Cause}
}

// rollbackOff reports a failure left as it was because rollback was
// switched off.
func (f *Failure) rollbackOff() bool {
	return !f.Untouched && !f.RolledBack && f.RollbackErr == nil
}

// IsRollbackFailure reports a failure whose rollback failed: the cluster may
// be left half-way and needs a person.
func IsRollbackFailure(err error) bool {
	var f *Failure
	return errors.As(err, &f) && f.RollbackErr != nil
}

// IsRolledBack reports a failure that was fully rolled back.
func IsRolledBack(err error) bool {
	var f *Failure
	return errors.As(err, &f) && f.RolledBack
}
