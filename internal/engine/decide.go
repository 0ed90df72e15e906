package engine

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// DecideRequest is a person's decision on the release of App that waits
// at Confirm (deploy with a manual approval).
type DecideRequest struct {
	Run
	// Approve switches production to the new color; false rejects the
	// release, production untouched.
	Approve bool
	// By (required) and Comment are kept in the record's approval.
	By, Comment string
}

// Decide approves or rejects the newest release of req.App whose approval
// is pending, and returns its record as stored. The waiting run, which
// watches its record, goes on or stops; Decide itself changes nothing but
// the record's approval, so it needs no lock.
//
// Errors: with nothing pending (release.ErrNoPendingApproval), a bad app
// name, no one named in By, or a request the API server denied, the error
// wraps strategy.ErrRefused: nothing changed. Its text is the store's.
func Decide(ctx context.Context, req DecideRequest) (*release.Record, error) {
	if req.By == "" {
		return nil, refusal{errors.New("decide approval: who decides is required")}
	}
	if errs := validation.IsDNS1123Label(req.App); len(errs) > 0 {
		return nil, refusal{fmt.Errorf("decide approval: invalid app name %q: %s", req.App, errs[0])}
	}
	store := release.NewStore(req.Clients.Typed, req.Clients.Namespace)
	r, err := store.Decide(ctx, req.App, req.Approve, req.By, req.Comment)
	if errors.Is(err, release.ErrNoPendingApproval) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return nil, refusal{err}
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// refusal marks err as a refusal (strategy.ErrRefused) without changing
// its text, which people and scripts already read: "no release is
// waiting for approval".
type refusal struct{ err error }

func (e refusal) Error() string   { return e.err.Error() }
func (e refusal) Unwrap() []error { return []error{e.err, strategy.ErrRefused} }
