package strategy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/verify"
)

// scriptedCheck stands for a background analysis: after `after` it
// returns result, unless its ctx ends first; then it returns stopped.
type scriptedCheck struct {
	after           time.Duration
	result, stopped verify.Result
}

func (c scriptedCheck) Name() string { return "errors" }

func (c scriptedCheck) Probe(ctx context.Context) verify.Result {
	select {
	case <-time.After(c.after):
		return c.result
	case <-ctx.Done():
		return c.stopped
	}
}

func TestBackgroundEndsTheStepWithItsVerdict(t *testing.T) {
	passed := verify.Result{OK: true}
	failed := verify.Result{Detail: "failed: app-errors: 1 measurements failed"}
	unsure := verify.Result{Detail: "inconclusive: no measurement passed", Inconclusive: true}
	never := time.Hour
	for _, tc := range []struct {
		name         string
		check        scriptedCheck
		step         time.Duration // how long the step takes: never, unless the verdict ends it
		stepErr, fin error         // want: during's error, finish's
	}{
		{"passes throughout", scriptedCheck{after: never, stopped: passed}, 50 * time.Millisecond, nil, nil},
		{"fails mid-step", scriptedCheck{after: 20 * time.Millisecond, result: failed}, never, verify.ErrCheckFailed, verify.ErrCheckFailed},
		{"cannot judge mid-step", scriptedCheck{after: 20 * time.Millisecond, result: unsure}, never, errBackgroundInconclusive, errBackgroundInconclusive},
		{"stopped before a pass", scriptedCheck{after: never, stopped: unsure}, 10 * time.Millisecond, nil, errBackgroundInconclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a step not cut short ends with ctx's deadline
			defer cancel()
			bg := newBackground([]verify.Spec{{Check: tc.check}}, event.Discard)
			bg.start(ctx)
			err := bg.during(ctx, func(ctx context.Context) error { return sleep(ctx, tc.step) })
			if !errors.Is(err, tc.stepErr) || (tc.stepErr == nil) != (err == nil) {
				t.Errorf("during: %v, want %v", err, tc.stepErr)
			}
			if err := bg.finish(); !errors.Is(err, tc.fin) || (tc.fin == nil) != (err == nil) {
				t.Errorf("finish: %v, want %v", err, tc.fin)
			}
		})
	}
}

func TestBackgroundNotStartedJudgesNothing(t *testing.T) {
	bg := newBackground([]verify.Spec{{Check: scriptedCheck{after: time.Millisecond, result: verify.Result{Detail: "failed"}}}}, event.Discard)
	ran := false
	if err := bg.during(t.Context(), func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("during, not started: %v, ran %v; want the step run alone", err, ran)
	}
	if bg.running() || bg.finish() != nil {
		t.Error("a background analysis never started has a verdict")
	}
}
