package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/util/retry"
)

// ErrNotRunning is returned, wrapped with the app's name, by RequestAbort
// when no run of the app is in progress.
var ErrNotRunning = errors.New("no release is running")

// Canary is how far a canary run got: the record of a run killed
// mid-way tells its rerun where to resume.
type Canary struct {
	// Step is the number of steps done; Steps how many there are.
	Step, Steps int
	// Plan describes the steps, in order: a rerun resumes only a run of
	// the same steps.
	Plan string
	// Weight is the canary's share of traffic the last weight step set, in
	// percent; Share is the share its ready pods actually carry, where the
	// split is by replicas (an approximation), else equal to Weight.
	Weight, Share int
	// Deployment is the canary's Deployment; through a gateway, Route is
	// the HTTPRoute and StableService and CanaryService the pair it splits
	// between. A `cutover abort` of a run that died puts all traffic on
	// stable by them.
	Deployment, Route, StableService, CanaryService string
}

type wireCanary struct {
	Step          int    `json:"step"`
	Steps         int    `json:"steps"`
	Plan          string `json:"plan,omitempty"`
	Weight        int    `json:"weight"`
	Share         int    `json:"share"`
	Deployment    string `json:"deployment,omitempty"`
	Route         string `json:"route,omitempty"`
	StableService string `json:"stableService,omitempty"`
	CanaryService string `json:"canaryService,omitempty"`
}

func wireCanaryOf(c *Canary) *wireCanary {
	if c == nil {
		return nil
	}
	return &wireCanary{Step: c.Step, Steps: c.Steps, Plan: c.Plan, Weight: c.Weight, Share: c.Share,
		Deployment: c.Deployment, Route: c.Route, StableService: c.StableService, CanaryService: c.CanaryService}
}

func (w *wireCanary) canary() *Canary {
	if w == nil {
		return nil
	}
	return &Canary{Step: w.Step, Steps: w.Steps, Plan: w.Plan, Weight: w.Weight, Share: w.Share,
		Deployment: w.Deployment, Route: w.Route, StableService: w.StableService, CanaryService: w.CanaryService}
}

// RequestAbort asks the running release of app to abort, as by
// (required), writing the request into its record, which the run
// watches. It returns that record as stored. With no run in progress it
// returns an error wrapping ErrNotRunning.
//
// Like Decide, it rewrites only the record's "abortRequest" field.
func (s *Store) RequestAbort(ctx context.Context, app, by, comment string) (*Record, error) {
	if by == "" {
		return nil, errors.New("request abort: who asks is required")
	}
	req := &Approval{State: ApprovalRejected, By: by, At: time.Now().UTC(), Comment: comment}
	var r *Record
	err := retry.RetryOnConflict(retry.DefaultRetry, func() (err error) {
		if r, err = s.Latest(ctx, app); err != nil {
			return err
		}
		if r == nil || r.Outcome != OutcomeRunning {
			return fmt.Errorf("app %s: %w", app, ErrNotRunning)
		}
		if err := s.writeField(ctx, r, "abortRequest", wireApprovalOf(req)); err != nil {
			return err
		}
		r.AbortRequest = req
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("request abort: %w", err)
	}
	return r, nil
}

// WaitForAbortRequest watches the record of app's revision until someone
// asks its run to abort, and returns the request. It fails as
// WaitForDecision does.
func (s *Store) WaitForAbortRequest(ctx context.Context, app string, revision int) (*Approval, error) {
	r, err := s.waitFor(ctx, app, revision, "abort request", func(r *Record) bool { return r.AbortRequest != nil })
	if err != nil {
		return nil, err
	}
	return r.AbortRequest, nil
}

// WaitForEnd watches the record of app's revision until its run ends
// (any outcome but running), and returns it.
func (s *Store) WaitForEnd(ctx context.Context, app string, revision int) (*Record, error) {
	return s.waitFor(ctx, app, revision, "the end of the run", func(r *Record) bool { return r.Outcome != OutcomeRunning })
}
