package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/cutover/cutover/internal/analysis"
	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/verify"
)

// AnalysisCheck builds a metric analysis run as one check: each attempt
// runs every metric to its count, and passes when all are successful.
// Each measurement is an event of the run.
func AnalysisCheck(a *config.AnalysisCheck, label string) func(context.Context, CheckBinding) (verify.Check, error) {
	return func(_ context.Context, b CheckBinding) (verify.Check, error) {
		var metrics []analysis.Metric
		var names []string
		for _, m := range a.Metrics {
			am := m.Analysis(b.fill)
			if b.Background {
				am.Count = 0 // until stopped
			}
			metrics = append(metrics, am)
			names = append(names, m.Name)
		}
		an, err := analysis.New(metrics)
		if err != nil {
			return nil, fmt.Errorf("%w: analysis: %w", strategy.ErrRefused, err)
		}
		if label == "" {
			label = "analysis of " + strings.Join(names, ", ")
		}
		return &analysisCheck{an: an, label: label, opts: analysis.Options{Sink: b.Sink, Stage: b.strategyStage(),
			Args: analysis.Args{App: b.App, Namespace: b.Clients.Namespace, Color: b.Color,
				CanaryDeployment: b.Canary.Deployment, StableDeployment: b.Canary.StableDeployment,
				CanaryService: b.Canary.Service, StableService: b.Canary.StableService}}}, nil
	}
}

type analysisCheck struct {
	an    *analysis.Analysis
	label string
	opts  analysis.Options
}

func (c *analysisCheck) Name() string { return c.label }

// Probe runs the analysis; failed and inconclusive fail the check (an
// inconclusive one says so: a canary then waits for a person). Its
// measurements go to the stage's sink when ctx carries one (the run's
// record then keeps them), else to the binding's.
func (c *analysisCheck) Probe(ctx context.Context) verify.Result {
	opts := c.opts
	if sink, stage, ok := event.SinkFrom(ctx); ok {
		opts.Sink, opts.Stage = sink, stage
	}
	res := c.an.Run(ctx, opts)
	detail := string(res.Phase)
	if msg := res.Message(); msg != "" {
		detail += ": " + msg
	}
	return verify.Result{OK: res.Phase == analysis.Successful, Detail: detail, Inconclusive: res.Phase == analysis.Inconclusive}
}

// strategyStage names the stage the binding's checks run in.
func (b CheckBinding) strategyStage() string {
	switch {
	case b.Stage == config.StageStaged:
		return strategy.StageVerifyStaged
	case b.Color != "":
		return strategy.StageVerifyProd
	}
	return strategy.StageVerify
}
