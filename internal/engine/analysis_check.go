package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

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
	return func(ctx context.Context, b CheckBinding) (verify.Check, error) {
		var metrics []analysis.Metric
		var names []string
		for _, m := range a.Metrics {
			am := m.Analysis(b.fill)
			if b.Background {
				am.Count = 0 // until stopped
			}
			if m.Job != nil {
				j, err := jobFromFile(ctx, b, m.Job.File, "metric "+m.Name)
				if err != nil {
					return nil, fmt.Errorf("metric %s: %w", m.Name, err)
				}
				am.Provider = &analysis.Job{Name: m.Job.File, Run: jobMetric(j)}
			}
			metrics = append(metrics, am)
			names = append(names, m.Name)
		}
		an, err := analysis.New(metrics)
		if err != nil {
			return nil, fmt.Errorf("analysis: %w", err)
		}
		if label == "" {
			label = "analysis of " + strings.Join(names, ", ")
		}
		return &analysisCheck{an: an, label: label, revision: b.Revision, opts: analysis.Options{Sink: b.Sink, Stage: b.strategyStage(),
			Args: analysis.Args{App: b.App, Namespace: b.Clients.Namespace, Color: b.Color,
				CanaryDeployment: b.Canary.Deployment, StableDeployment: b.Canary.StableDeployment,
				CanaryService: b.Canary.Service, StableService: b.Canary.StableService}}}, nil
	}
}

type analysisCheck struct {
	an       *analysis.Analysis
	label    string
	opts     analysis.Options
	revision func() int // nil: none
}

func (c *analysisCheck) Name() string { return c.label }

// Probe runs the analysis; failed and inconclusive fail the check (an
// inconclusive one says so: a canary then waits for a person). Its
// measurements go to the stage's sink when ctx carries one (the run's
// record then keeps them), else to the binding's.
func (c *analysisCheck) Probe(ctx context.Context) verify.Result {
	opts := c.opts
	if c.revision != nil {
		opts.Args.Revision = c.revision()
	}
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

// jobMetric runs j for a measurement, its containers given the
// measurement's Args as environment variables (CUTOVER_APP,
// CUTOVER_CANARY_SERVICE, ...): what a Command metric's template names.
func jobMetric(j *verify.Job) func(context.Context, analysis.Args) (bool, string, error) {
	return func(ctx context.Context, args analysis.Args) (bool, string, error) {
		run := *j
		run.Template = j.Template.DeepCopy()
		spec := &run.Template.Spec.Template.Spec
		for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
			for i := range cs {
				cs[i].Env = append(cs[i].Env, argsEnv(args)...)
			}
		}
		return run.Run(ctx)
	}
}

// argsEnv names an analysis' Args as environment variables; those unset
// are left out.
func argsEnv(a analysis.Args) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, kv := range [][2]string{
		{"CUTOVER_APP", a.App}, {"CUTOVER_NAMESPACE", a.Namespace}, {"CUTOVER_COLOR", a.Color},
		{"CUTOVER_CANARY_SERVICE", a.CanaryService}, {"CUTOVER_STABLE_SERVICE", a.StableService},
		{"CUTOVER_CANARY_DEPLOYMENT", a.CanaryDeployment}, {"CUTOVER_STABLE_DEPLOYMENT", a.StableDeployment},
	} {
		if kv[1] != "" {
			out = append(out, corev1.EnvVar{Name: kv[0], Value: kv[1]})
		}
	}
	if a.Revision > 0 {
		out = append(out, corev1.EnvVar{Name: "CUTOVER_REVISION", Value: strconv.Itoa(a.Revision)})
	}
	return out
}
