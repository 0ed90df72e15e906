// Package verify holds the checks that decide whether a release works: after
// a rolling update, and at blue/green's Verify Staged and Verify Prod.
//
// A Check makes one attempt; Run repeats it under a Policy (attempts,
// interval, per-attempt timeout, passes needed in a row) and reports every
// attempt, so that the live view, CI lines and JSON output can show progress.
// The defaults follow the article's curl loop: 31 attempts, 10 s apart.
package verify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrCheckFailed is wrapped by Run when a check used up its attempts.
var ErrCheckFailed = errors.New("check failed")

// ErrInconclusive is wrapped, with ErrCheckFailed, when the last attempt
// could not judge (Result.Inconclusive): a person may decide instead.
var ErrInconclusive = errors.New("inconclusive")

// Check is one verification: an HTTP probe today; a Job or a command later.
type Check interface {
	// Name describes the check for people; it never holds credentials.
	Name() string
	// Probe makes one attempt, bounded by ctx.
	Probe(ctx context.Context) Result
}

// Result is the outcome of one attempt.
type Result struct {
	OK bool
	// Detail is short and fit for a CI log: "200 OK, body matched",
	// "503 Service Unavailable", "dial tcp 127.0.0.1:8080: connect: connection refused".
	Detail string
	// Duration of the attempt; Run measures it when Probe leaves it zero.
	Duration time.Duration
	// Inconclusive marks a result that is not OK because the check could
	// not judge (a metric analysis without enough data), not because what
	// it checks is bad.
	Inconclusive bool
}

// Policy says how to repeat a check until it passes. Zero fields take the
// defaults of WithDefaults.
type Policy struct {
	Attempts       int           // at most this many attempts; default 31
	Interval       time.Duration // pause after one attempt ends before the next; default 10s
	Timeout        time.Duration // bound of each attempt; default 5s
	SuccessesInRow int           // consecutive passes needed; default 1
	// Settle is how long after a check starts a failure is taken for the
	// change it checks still spreading (endpoints, proxies, load
	// balancers): within it a failed first attempt is tried again after
	// 50 ms, 100 ms, 200 ms... rather than after Interval. These retries
	// are reported as attempt 1 and do not use up Attempts. Zero: none.
	Settle time.Duration
}

// settleFirstRetry is the first pause of Settle's retries; each doubles.
const settleFirstRetry = 50 * time.Millisecond

// Policy defaults, as in the article's curl loop.
const (
	DefaultAttempts       = 31
	DefaultInterval       = 10 * time.Second
	DefaultTimeout        = 5 * time.Second
	DefaultSuccessesInRow = 1
)

// WithDefaults returns p with zero or negative fields set to the defaults.
func (p Policy) WithDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultAttempts
	}
	if p.Interval <= 0 {
		p.Interval = DefaultInterval
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.SuccessesInRow <= 0 {
		p.SuccessesInRow = DefaultSuccessesInRow
	}
	return p
}

// Attempt reports one probe, for the event stream.
type Attempt struct {
	Check  string // the check's Name
	N, Of  int    // attempt N of at most Of
	Result Result
	Streak int // consecutive passes so far, this one included
	// Again, if set, says attempt 1 failed while settling and is tried
	// again after this pause (see Policy.Settle).
	Again time.Duration
}

// Spec is a check with its policy.
type Spec struct {
	Check  Check
	Policy Policy
}

// Run probes c until it passes p.SuccessesInRow times in a row (nil), its
// attempts run out (an error wrapping ErrCheckFailed with the last detail), or
// ctx ends (an error wrapping ctx's error). Each attempt is bounded by
// p.Timeout and reported to report, which may be nil. An attempt cut short
// because ctx ended is not reported.
func Run(ctx context.Context, c Check, p Policy, report func(Attempt)) error {
	p = p.WithDefaults()
	name := c.Name()
	if p.SuccessesInRow > p.Attempts {
		return fmt.Errorf("%s: %d passes in a row cannot happen in %d attempts", name, p.SuccessesInRow, p.Attempts)
	}
	var last *Result
	streak := 0
	for n := 1; n <= p.Attempts; n++ {
		if n > 1 {
			if err := wait(ctx, p.Interval); err != nil {
				return stopped(name, err, last)
			}
		}
		r := probe(ctx, c, p.Timeout)
		if n == 1 {
			r = settle(ctx, c, p, r, report)
		}
		if !r.OK && ctx.Err() != nil {
			return stopped(name, ctx.Err(), last)
		}
		last = &r
		streak = nextStreak(streak, r.OK)
		if report != nil {
			report(Attempt{Check: name, N: n, Of: p.Attempts, Result: r, Streak: streak})
		}
		if streak >= p.SuccessesInRow {
			return nil
		}
	}
	if last.Inconclusive {
		return fmt.Errorf("%s: %w, %w after %d attempts: %s", name, ErrCheckFailed, ErrInconclusive, p.Attempts, last.Detail)
	}
	return fmt.Errorf("%s: %w after %d attempts: %s", name, ErrCheckFailed, p.Attempts, last.Detail)
}

// RunAll runs specs in order, each under its own policy, and stops at the
// first failure.
func RunAll(ctx context.Context, specs []Spec, report func(Attempt)) error {
	for _, s := range specs {
		if err := Run(ctx, s.Check, s.Policy, report); err != nil {
			return err
		}
	}
	return nil
}

// settle retries a failed first attempt, first result r, while p.Settle
// allows, and returns the last result.
func settle(ctx context.Context, c Check, p Policy, r Result, report func(Attempt)) Result {
	start := time.Now().Add(-r.Duration)
	for again := settleFirstRetry; !r.OK && time.Since(start)+again <= p.Settle; again *= 2 {
		if report != nil {
			report(Attempt{Check: c.Name(), N: 1, Of: p.Attempts, Result: r, Again: again})
		}
		if wait(ctx, again) != nil {
			return r
		}
		r = probe(ctx, c, p.Timeout)
	}
	return r
}

func probe(ctx context.Context, c Check, timeout time.Duration) Result {
	start := time.Now() // before the deadline is set, so a timed-out attempt lasts at least timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := c.Probe(ctx)
	if r.Duration == 0 {
		r.Duration = time.Since(start)
	}
	return r
}

func nextStreak(streak int, ok bool) int {
	if ok {
		return streak + 1
	}
	return 0
}

// wait pauses for d or until ctx ends, whichever comes first.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// stopped describes a run that ctx ended, with the last reported result.
func stopped(name string, err error, last *Result) error {
	if last == nil {
		return fmt.Errorf("%s: %w before any attempt finished", name, err)
	}
	return fmt.Errorf("%s: %w (last attempt: %s)", name, err, last.Detail)
}
