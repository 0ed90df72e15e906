package analysis

import (
	"context"
	"fmt"
	"time"
)

// Provider measures one value.
type Provider interface {
	// Measure returns the value, for the conditions' `result`: float64,
	// []any of float64 (a Prometheus vector), or any JSON value.
	Measure(ctx context.Context, args Args) (any, error)
	// Validate checks the provider's settings and templates before any
	// measurement.
	Validate() error
}

// Metric is one measured quantity of a release and how to judge it.
type Metric struct {
	Name     string
	Provider Provider
	// Interval is the time between measurements; default 10 s.
	Interval time.Duration
	// Count is how many measurements make the metric; 0 measures until the
	// analysis is stopped (a background analysis).
	Count        int
	InitialDelay time.Duration
	// SuccessCondition and FailureCondition are CEL over `result`.
	SuccessCondition, FailureCondition string
	// FailureLimit and InconclusiveLimit are how many failed or
	// inconclusive measurements are tolerated; ConsecutiveErrorLimit how
	// many errors in a row (default 4; -1 tolerates none).
	FailureLimit, InconclusiveLimit, ConsecutiveErrorLimit int
}

// DefaultInterval and DefaultConsecutiveErrorLimit are a metric's
// defaults.
const (
	DefaultInterval              = 10 * time.Second
	DefaultConsecutiveErrorLimit = 4
)

// Measurement is one value and its verdict.
type Measurement struct {
	Time    time.Time
	Value   any
	Phase   Phase
	Message string // the error, for an Error
}

// MetricResult is how a metric went.
type MetricResult struct {
	Name         string
	Phase        Phase // Successful, Failed or Inconclusive
	Message      string
	Measurements []Measurement
}

// compiled is a validated metric.
type compiled struct {
	Metric
	cond conditions
}

func (m Metric) compile() (compiled, error) {
	if m.Name == "" {
		return compiled{}, fmt.Errorf("metric without a name")
	}
	if m.Provider == nil {
		return compiled{}, fmt.Errorf("metric %s: no provider", m.Name)
	}
	if m.Count < 0 || m.Interval < 0 || m.InitialDelay < 0 || m.FailureLimit < 0 || m.InconclusiveLimit < 0 || m.ConsecutiveErrorLimit < -1 {
		return compiled{}, fmt.Errorf("metric %s: count, interval, initialDelay and the limits cannot be negative", m.Name)
	}
	if err := m.Provider.Validate(); err != nil {
		return compiled{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	cond, err := compileConditions(m.SuccessCondition, m.FailureCondition)
	if err != nil {
		return compiled{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	if m.Interval == 0 {
		m.Interval = DefaultInterval
	}
	switch m.ConsecutiveErrorLimit {
	case 0:
		m.ConsecutiveErrorLimit = DefaultConsecutiveErrorLimit
	case -1:
		m.ConsecutiveErrorLimit = 0
	}
	return compiled{Metric: m, cond: cond}, nil
}

// tally counts a metric's measurements and decides it.
type tally struct {
	successful, failed, inconclusive, errorsInRow int
	lastError                                     string
}

// add counts x; it returns the metric's end phase once a limit is passed,
// or "" while it goes on.
func (t *tally) add(m compiled, x Measurement) (Phase, string) {
	if x.Phase == Error {
		t.errorsInRow++
		t.lastError = x.Message
	} else {
		t.errorsInRow = 0
	}
	switch x.Phase {
	case Successful:
		t.successful++
	case Failed:
		t.failed++
	case Inconclusive:
		t.inconclusive++
	}
	switch {
	case t.failed > m.FailureLimit:
		return Failed, fmt.Sprintf("%d measurements failed (failureLimit %d)", t.failed, m.FailureLimit)
	case t.inconclusive > m.InconclusiveLimit:
		return Inconclusive, fmt.Sprintf("%d measurements inconclusive (inconclusiveLimit %d)", t.inconclusive, m.InconclusiveLimit)
	case t.errorsInRow > m.ConsecutiveErrorLimit:
		return Inconclusive, fmt.Sprintf("%d measurements in a row could not be taken (consecutiveErrorLimit %d): %s",
			t.errorsInRow, m.ConsecutiveErrorLimit, x.Message)
	}
	return "", ""
}

// end decides a metric that took all its measurements within its limits:
// successful, unless its last measurements could not be taken or none
// passed. Errors are never a pass.
func (t *tally) end() (Phase, string) {
	switch {
	case t.errorsInRow > 0:
		return Inconclusive, fmt.Sprintf("its last %d measurements could not be taken: %s", t.errorsInRow, t.lastError)
	case t.successful == 0:
		return Inconclusive, "no measurement passed"
	}
	return Successful, ""
}

// measure takes and judges one measurement.
func (m compiled) measure(ctx context.Context, args Args) Measurement {
	x := Measurement{Time: time.Now()}
	v, err := m.Provider.Measure(ctx, args)
	if err != nil {
		x.Phase, x.Message = Error, err.Error()
		return x
	}
	x.Value = v
	if x.Phase, err = m.cond.judge(v); err != nil {
		x.Message = err.Error()
	}
	return x
}

// run measures m until its count, a passed limit, or the end of ctx; each
// measurement goes to seen.
func (m compiled) run(ctx context.Context, args Args, seen func(Measurement)) MetricResult {
	res := MetricResult{Name: m.Name}
	var t tally
	wait := m.InitialDelay
	for m.Count == 0 || len(res.Measurements) < m.Count {
		select {
		case <-ctx.Done():
			return m.stopped(res, &t)
		case <-time.After(wait):
		}
		wait = m.Interval
		x := m.measure(ctx, args)
		if ctx.Err() != nil && x.Phase == Error {
			return m.stopped(res, &t) // cut short by the stop, not a failure of the provider
		}
		res.Measurements = append(res.Measurements, x)
		seen(x)
		if phase, why := t.add(m, x); phase != "" {
			res.Phase, res.Message = phase, why
			return res
		}
	}
	res.Phase, res.Message = t.end()
	return res
}

// stopped is the result of a metric stopped before its count. A
// background metric (no count) ends as one that took all its
// measurements; one with a count it did not reach is inconclusive: too few
// measurements to pass.
func (m compiled) stopped(res MetricResult, t *tally) MetricResult {
	n := len(res.Measurements)
	switch {
	case n == 0:
		res.Phase, res.Message = Inconclusive, "stopped before its first measurement"
	case m.Count > 0:
		res.Phase, res.Message = Inconclusive, fmt.Sprintf("stopped after %d of %d measurements", n, m.Count)
	default:
		res.Phase, res.Message = t.end()
	}
	return res
}
