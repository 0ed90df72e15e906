package engine

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/verify"
)

// CheckDef is a check not yet bound to a color: one from the command line
// or the config file.
type CheckDef struct {
	// Name is the check's name in the config file, which a canary's
	// analysis step refers to it by; "" for one from the command line.
	Name   string
	Stage  string // config.StageStaged, StageProd or StageBoth
	Policy verify.Policy
	Build  func(ctx context.Context, b CheckBinding) (verify.Check, error)
	// NoSettle: the check judges its own measurements over time (an
	// analysis), so a failure is not tried again while a change spreads.
	NoSettle bool
}

// CheckBinding is what a check is built for: a verify stage and a color.
type CheckBinding struct {
	Clients *kube.Clients
	App     string
	Stage   string // config.StageStaged or StageProd
	Color   string // "" for a rolling update
	RoleVar string // the manifests' variable that names the color
	Vars    func() (*manifest.Vars, error)
	Sink    event.Sink
	// Canary names a canary release's workloads, for analysis templates.
	Canary CanaryNames
	// Background builds analyses whose metrics measure until stopped, not
	// to a count: a canary's background analysis.
	Background bool
	// Revision is the release's revision once its record is stored: the
	// checks are built before.
	Revision func() int
}

// CanaryNames are a canary release's Deployments and Services; in
// replica mode both tracks share the Services.
type CanaryNames struct {
	Deployment, StableDeployment string
	Service, StableService       string
}

// CheckSet holds a run's checks.
type CheckSet []CheckDef

// specs builds the checks of one stage for one color. Every placeholder
// {color} is replaced by the color.
func (s CheckSet) specs(ctx context.Context, b CheckBinding) ([]verify.Spec, error) {
	var out []verify.Spec
	for _, d := range s {
		if d.Stage != config.StageBoth && d.Stage != "" && d.Stage != b.Stage {
			continue
		}
		c, err := d.Build(ctx, b)
		if err != nil {
			return nil, err
		}
		p := d.Policy
		if p.Settle == 0 && !d.NoSettle {
			p.Settle = settle
		}
		out = append(out, verify.Spec{Check: c, Policy: p})
	}
	return out, nil
}

// byStage builds the checks of every stage for each color, up front (a
// check that cannot be built is bad input before any cluster work), and
// returns them as the engine asks for them: by strategy stage and color.
func (s CheckSet) byStage(ctx context.Context, b CheckBinding, stages, colors []string) (func(stage, color string) []verify.Spec, error) {
	built := map[[2]string][]verify.Spec{}
	for _, stage := range stages {
		for _, color := range colors {
			b.Stage, b.Color = stage, color
			specs, err := s.specs(ctx, b)
			if err != nil {
				return nil, err
			}
			built[[2]string{stage, color}] = specs
		}
	}
	return func(stage, color string) []verify.Spec { return built[[2]string{verifyStage(stage), color}] }, nil
}

// verifyStage maps a strategy stage to the config file's check stage.
func verifyStage(stage string) string {
	if stage == strategy.StageVerifyStaged {
		return config.StageStaged
	}
	return config.StageProd
}

// settle is how long after a check starts a failure is retried at once
// (from 50 ms, doubling) rather than after the interval: a check follows a
// change (a rollout, a switch) that endpoints, proxies and load balancers
// take a moment to learn. See verify.Policy.Settle.
const settle = 2 * time.Second

func (b CheckBinding) fill(s string) string { return strings.ReplaceAll(s, "{color}", b.Color) }

// HTTPCheck builds an HTTP check from the config file's form.
func HTTPCheck(h *config.HTTPCheck, label string) func(context.Context, CheckBinding) (verify.Check, error) {
	return func(_ context.Context, b CheckBinding) (verify.Check, error) {
		var c *verify.HTTP
		if h.Service != nil {
			var err error
			c, err = verify.NewServiceProxyHTTP(b.Clients.Config, b.Clients.Namespace, b.fill(h.Service.Name), h.Service.Port, b.fill(h.Service.Path))
			if err != nil {
				return nil, err
			}
		} else {
			c = &verify.HTTP{URL: b.fill(h.URL)}
		}
		c.Status, c.Contains, c.Headers, c.Label = h.Status, h.Contains, h.Headers, label
		if h.InsecureSkipVerify != nil {
			c.InsecureSkipVerify = *h.InsecureSkipVerify
		}
		if h.Matches != "" {
			re, err := regexp.Compile(h.Matches)
			if err != nil {
				return nil, err
			}
			c.Matches = re
		}
		return c, nil
	}
}

// CommandCheck builds a command check; its environment tells the command
// what it verifies.
func CommandCheck(run string, env map[string]string, label string, testURL string) func(context.Context, CheckBinding) (verify.Check, error) {
	return func(_ context.Context, b CheckBinding) (verify.Check, error) {
		e := map[string]string{"APP": b.App, "NAMESPACE": b.Clients.Namespace, "CUTOVER_STAGE": b.Stage}
		if b.Color != "" {
			e[b.RoleVar], e["TARGET_ROLE"] = b.Color, b.Color
		}
		if testURL != "" {
			e["TEST_URL"] = b.fill(testURL)
		}
		for k, v := range env {
			e[k] = b.fill(v)
		}
		return &verify.Command{Run: run, Env: e, Label: label}, nil
	}
}

// JobCheck builds a Job check from a manifest file, rendered with the run's
// variables and the role variable set to the color.
func JobCheck(path, label string) func(context.Context, CheckBinding) (verify.Check, error) {
	return func(ctx context.Context, b CheckBinding) (verify.Check, error) {
		return jobFromFile(ctx, b, path, label)
	}
}

// jobFromFile builds the Job a Job check or metric runs. Its errors are
// bad input: the callers, who build the checks before any write, refuse.
func jobFromFile(ctx context.Context, b CheckBinding, path, label string) (*verify.Job, error) {
	vars, err := b.Vars()
	if err != nil {
		return nil, err
	}
	if b.Color != "" {
		if err := vars.Set(b.RoleVar + "=" + b.Color); err != nil {
			return nil, err
		}
	}
	set, err := manifest.Load(ctx, manifest.Options{Paths: []string{path}, Vars: vars})
	if err != nil {
		return nil, fmt.Errorf("job check: %w", err)
	}
	if len(set.Objects) != 1 {
		return nil, fmt.Errorf("job check %s: want exactly one Job, found %d objects", path, len(set.Objects))
	}
	tmpl, err := verify.JobFromManifest(set.Objects[0].Unstructured)
	if err != nil {
		return nil, fmt.Errorf("job check %s: %w", path, err)
	}
	return &verify.Job{Client: b.Clients.Typed, Namespace: b.Clients.Namespace, Template: tmpl, Label: label,
		Labels: map[string]string{"cutover.dev/app": b.App},
		OnLogs: func(pod, text string) {
			event.Stamp(b.Sink, event.Event{Type: event.Warning, Message: fmt.Sprintf("job check pod %s logs:\n%s", pod, text)})
		}}, nil
}

// ConfigChecks turns the config file's checks into definitions.
func ConfigChecks(cfg *config.Config) CheckSet {
	var out CheckSet
	for _, c := range cfg.Checks {
		d := CheckDef{Name: c.Name, Stage: c.Stage, Policy: c.Policy()}
		switch {
		case c.HTTP != nil:
			d.Build = HTTPCheck(c.HTTP, c.Name)
		case c.Command != nil:
			d.Build = CommandCheck(c.Command.Run, c.Command.Env, c.Name, "")
		case c.Job != nil:
			d.Build = JobCheck(c.Job.File, c.Name)
			jobPolicy(&d.Policy, c)
		case c.Analysis != nil:
			d.Build, d.NoSettle = AnalysisCheck(c.Analysis, c.Name), true
			analysisPolicy(&d.Policy, c)
		}
		out = append(out, d)
	}
	return out
}

// jobPolicy gives a Job check the defaults that fit a test suite rather
// than a probe: one attempt, ten minutes.
func jobPolicy(p *verify.Policy, c config.Check) {
	if c.Attempts == nil {
		p.Attempts = 1
	}
	if c.Timeout == nil {
		p.Timeout = 10 * time.Minute
	}
}

// analysisPolicy gives an analysis check one attempt, as long as its
// metrics take: the analysis counts its own measurements.
func analysisPolicy(p *verify.Policy, c config.Check) {
	if c.Attempts == nil {
		p.Attempts = 1
	}
	if c.Timeout == nil {
		p.Timeout = c.Analysis.Duration()
	}
}

// CheckPlan is a request's checks before they are built for a stage and a
// color. The engine builds them before any cluster work: a check that
// cannot be built refuses the run.
type CheckPlan struct {
	Defs CheckSet
	// Vars returns the run's variables, which render Job checks' manifests.
	Vars func() (*manifest.Vars, error)
	// RoleVar is the variable that names the blue/green color in them and
	// in command checks' environment; default TARGET_ROLE.
	RoleVar string
}

// stageChecks returns built checks by strategy stage and color.
type stageChecks func(stage, color string) []verify.Spec

// forColors builds the plan's checks of Verify Staged and Verify Prod for
// each blue/green color; with no colors, those of a rolling update's
// Verify.
func (p CheckPlan) forColors(ctx context.Context, r Run, colors ...string) (stageChecks, error) {
	if len(p.Defs) == 0 {
		return func(string, string) []verify.Spec { return nil }, nil
	}
	stages := []string{config.StageStaged, config.StageProd}
	if len(colors) == 0 {
		stages, colors = []string{config.StageProd}, []string{""}
	}
	built, err := p.Defs.byStage(ctx, p.binding(r), stages, colors)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	return built, nil
}

// forProd builds the plan's Verify Prod checks for color.
func (p CheckPlan) forProd(ctx context.Context, r Run, color string) ([]verify.Spec, error) {
	b := p.binding(r)
	b.Stage, b.Color = config.StageProd, color
	specs, err := p.Defs.specs(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	return specs, nil
}

func (p CheckPlan) binding(r Run) CheckBinding {
	b := CheckBinding{Clients: r.Clients, App: r.App, RoleVar: p.RoleVar, Vars: p.Vars, Sink: r.Sink, Revision: r.Revision}
	if b.RoleVar == "" {
		b.RoleVar = "TARGET_ROLE"
	}
	return b
}
