// Package verify holds the checks that decide whether a release works: after
// a rolling update, and at blue/green's Verify Staged and Verify Prod. A
// Check makes one attempt; Run repeats it under a Policy (attempts, interval,
// per-attempt timeout, passes needed in a row), reporting every attempt.
package verify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrCheckFailed is wrapped by Run when attempts run out.
var ErrCheckFailed = errors.New("check failed")

// Check is one verification.
type Check interface {
	// Name describes the check for people; it never holds credentials.
	Name() string
	// Probe makes one attempt, bounded by ctx.
	Probe(ctx context.Context) Result
}

// Result is the outcome of one attempt.
type Result struct {
	OK       bool
	Detail   string // short and useful in a CI log: "200 OK", "connection refused"
	Duration time.Duration
}

// Policy says how to repeat a check until it passes.
type Policy struct {
	Attempts       int           // default 31, as the article's curl loop
	Interval       time.Duration // between attempts; default 10s
	Timeout        time.Duration // per attempt; default 5s
	SuccessesInRow int           // consecutive passes needed; default 1
}

// WithDefaults fills in the zero fields.
func (p Policy) WithDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = 31
	}
	if p.Interval <= 0 {
		p.Interval = 10 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 5 * time.Second
	}
	if p.SuccessesInRow <= 0 {
		p.SuccessesInRow = 1
	}
	return p
}

// Attempt reports one probe.
type Attempt struct {
	Check  string
	N, Of  int
	Result Result
	Streak int // consecutive passes so far
}

// Spec is a check with its policy.
type Spec struct {
	Check  Check
	Policy Policy
}

// Run probes c until it passes p.SuccessesInRow times in a row, attempts run
// out (an error wrapping ErrCheckFailed with the last detail), or ctx ends.
func Run(ctx context.Context, c Check, p Policy, report func(Attempt)) error {
	p = p.WithDefaults()
	streak := 0
	var last Result
	for n := 1; n <= p.Attempts; n++ {
		last = probe(ctx, c, p.Timeout)
		if last.OK {
			streak++
		} else {
			streak = 0
		}
		if report != nil {
			report(Attempt{Check: c.Name(), N: n, Of: p.Attempts, Result: last, Streak: streak})
		}
		if streak >= p.SuccessesInRow {
			return nil
		}
		if n == p.Attempts {
			break
		}
		if err := sleep(ctx, p.Interval); err != nil {
			return fmt.Errorf("%s: %w (last: %s)", c.Name(), err, last.Detail)
		}
	}
	return fmt.Errorf("%s: %w after %d attempts: %s", c.Name(), ErrCheckFailed, p.Attempts, last.Detail)
}

func probe(ctx context.Context, c Check, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	r := c.Probe(ctx)
	if r.Duration == 0 {
		r.Duration = time.Since(start)
	}
	return r
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

// RunAll runs specs in order and stops at the first failure.
func RunAll(ctx context.Context, specs []Spec, report func(Attempt)) error {
	for _, s := range specs {
		if err := Run(ctx, s.Check, s.Policy, report); err != nil {
			return err
		}
	}
	return nil
}
