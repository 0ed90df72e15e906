package analysis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cutover/cutover/internal/event"
)

// Args are what a provider's templates may name: {{.App}},
// {{.Namespace}}, {{.Color}} (blue/green: the color under test),
// {{.CanaryService}}, {{.StableService}}, {{.CanaryDeployment}},
// {{.StableDeployment}}, {{.Revision}}.
type Args struct {
	App, Namespace                     string
	Color                              string
	CanaryService, StableService       string
	CanaryDeployment, StableDeployment string
	Revision                           int
}

// Analysis is a set of metrics run together.
type Analysis struct {
	metrics []compiled
}

// New validates the metrics: their providers' settings and templates, and
// their conditions, compiled. Nothing is measured yet.
func New(metrics []Metric) (*Analysis, error) {
	a := &Analysis{}
	names := map[string]bool{}
	var errs []error
	for _, m := range metrics {
		c, err := m.compile()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if names[m.Name] {
			errs = append(errs, fmt.Errorf("metric %s: named twice", m.Name))
		}
		names[m.Name] = true
		a.metrics = append(a.metrics, c)
	}
	return a, errors.Join(errs...)
}

// Options are how one run of an analysis reports.
type Options struct {
	Args  Args
	Sink  event.Sink // each measurement, as an event of type analysis
	Stage string
}

// Result is how an analysis went: Failed if a metric failed, else
// Inconclusive if one was, else Successful.
type Result struct {
	Phase   Phase
	Metrics []MetricResult
}

// Message says which metrics decided the phase, and why.
func (r Result) Message() string {
	var parts []string
	for _, m := range r.Metrics {
		if m.Phase == r.Phase && m.Message != "" {
			parts = append(parts, m.Name+": "+m.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// Run measures every metric at once until each has its count. A failed
// metric ends the others at once; so does the end of ctx, which is how a
// background analysis (metrics without a count) is stopped.
func (a *Analysis) Run(ctx context.Context, o Options) Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]MetricResult, len(a.metrics))
	var wg sync.WaitGroup
	for i, m := range a.metrics {
		wg.Go(func() {
			results[i] = m.run(ctx, o.Args, func(x Measurement) { o.report(m.Name, x) })
			if results[i].Phase == Failed {
				cancel()
			}
		})
	}
	wg.Wait()
	return Result{Phase: worst(results), Metrics: results}
}

func worst(results []MetricResult) Phase {
	phase := Successful
	for _, r := range results {
		switch {
		case r.Phase == Failed:
			return Failed
		case r.Phase == Inconclusive:
			phase = Inconclusive
		}
	}
	return phase
}

func (o Options) report(metric string, x Measurement) {
	if o.Sink == nil {
		return
	}
	msg := fmt.Sprintf("result %s", valueText(x.Value))
	if x.Message != "" {
		msg = x.Message
	}
	event.Stamp(o.Sink, event.Event{Time: x.Time, Type: event.Analysis, Stage: o.Stage, Object: "metric " + metric,
		Status: string(x.Phase), Message: msg})
}

// valueText prints a measured value shortly.
func valueText(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
