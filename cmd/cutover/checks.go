package main

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
	"github.com/cutover/cutover/internal/verify"
)

// checkDef is a check not yet bound to a color: one from the command line
// or the config file.
type checkDef struct {
	stage  string // config.StageStaged, StageProd or StageBoth
	policy verify.Policy
	build  func(ctx context.Context, b checkBinding) (verify.Check, error)
}

// checkBinding is what a check is built for: a verify stage and a color.
type checkBinding struct {
	clients *kube.Clients
	app     string
	stage   string // config.StageStaged or StageProd
	color   string // "" for a rolling update
	roleVar string
	vars    func() (*manifest.Vars, error)
	sink    event.Sink
}

// checkSet holds a run's checks.
type checkSet []checkDef

// specs builds the checks of one stage for one color. Every placeholder
// {color} is replaced by the color.
func (s checkSet) specs(ctx context.Context, b checkBinding) ([]verify.Spec, error) {
	var out []verify.Spec
	for _, d := range s {
		if d.stage != config.StageBoth && d.stage != "" && d.stage != b.stage {
			continue
		}
		c, err := d.build(ctx, b)
		if err != nil {
			return nil, err
		}
		p := d.policy
		if p.Settle == 0 {
			p.Settle = settle
		}
		out = append(out, verify.Spec{Check: c, Policy: p})
	}
	return out, nil
}

// byStage builds the checks of every stage for each color, up front (a
// check that cannot be built is bad input before any cluster work), and
// returns them as the engine asks for them: by strategy stage and color.
func (s checkSet) byStage(ctx context.Context, b checkBinding, stages, colors []string) (func(stage, color string) []verify.Spec, error) {
	built := map[[2]string][]verify.Spec{}
	for _, stage := range stages {
		for _, color := range colors {
			b.stage, b.color = stage, color
			specs, err := s.specs(ctx, b)
			if err != nil {
				return nil, err
			}
			built[[2]string{stage, color}] = specs
		}
	}
	return func(stage, color string) []verify.Spec { return built[[2]string{verifyStage(stage), color}] }, nil
}

// settle is how long after a check starts a failure is retried at once
// (from 50 ms, doubling) rather than after the interval: a check follows a
// change (a rollout, a switch) that endpoints, proxies and load balancers
// take a moment to learn. See verify.Policy.Settle.
const settle = 2 * time.Second

func (b checkBinding) fill(s string) string { return strings.ReplaceAll(s, "{color}", b.color) }

// httpDef builds an HTTP check from the config file's form.
func httpDef(h *config.HTTPCheck, label string) func(context.Context, checkBinding) (verify.Check, error) {
	return func(_ context.Context, b checkBinding) (verify.Check, error) {
		var c *verify.HTTP
		if h.Service != nil {
			var err error
			c, err = verify.NewServiceProxyHTTP(b.clients.Config, b.clients.Namespace, b.fill(h.Service.Name), h.Service.Port, b.fill(h.Service.Path))
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

// commandDef builds a command check; its environment tells the command
// what it verifies.
func commandDef(run string, env map[string]string, label string, testURL string) func(context.Context, checkBinding) (verify.Check, error) {
	return func(_ context.Context, b checkBinding) (verify.Check, error) {
		e := map[string]string{"APP": b.app, "NAMESPACE": b.clients.Namespace, "CUTOVER_STAGE": b.stage}
		if b.color != "" {
			e[b.roleVar], e["TARGET_ROLE"] = b.color, b.color
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

// jobDef builds a Job check from a manifest file, rendered with the run's
// variables and the role variable set to the color.
func jobDef(path, label string) func(context.Context, checkBinding) (verify.Check, error) {
	return func(ctx context.Context, b checkBinding) (verify.Check, error) {
		vars, err := b.vars()
		if err != nil {
			return nil, err
		}
		if b.color != "" {
			if err := vars.Set(b.roleVar + "=" + b.color); err != nil {
				return nil, err
			}
		}
		set, err := manifest.Load(ctx, manifest.Options{Paths: []string{path}, Vars: vars})
		if err != nil {
			return nil, badInput{fmt.Errorf("job check: %w", err)}
		}
		if len(set.Objects) != 1 {
			return nil, badInput{fmt.Errorf("job check %s: want exactly one Job, found %d objects", path, len(set.Objects))}
		}
		tmpl, err := verify.JobFromManifest(set.Objects[0].Unstructured)
		if err != nil {
			return nil, badInput{fmt.Errorf("job check %s: %w", path, err)}
		}
		return &verify.Job{Client: b.clients.Typed, Namespace: b.clients.Namespace, Template: tmpl, Label: label,
			Labels: map[string]string{"cutover.dev/app": b.app},
			OnLogs: func(pod, text string) {
				event.Stamp(b.sink, event.Event{Type: event.Warning, Message: fmt.Sprintf("job check pod %s logs:\n%s", pod, text)})
			}}, nil
	}
}

// configChecks turns the config file's checks into definitions.
func configChecks(cfg *config.Config) checkSet {
	var out checkSet
	for _, c := range cfg.Checks {
		d := checkDef{stage: c.Stage, policy: c.Policy()}
		switch {
		case c.HTTP != nil:
			d.build = httpDef(c.HTTP, c.Name)
		case c.Command != nil:
			d.build = commandDef(c.Command.Run, c.Command.Env, c.Name, "")
		case c.Job != nil:
			d.build = jobDef(c.Job.File, c.Name)
			jobPolicy(&d.policy, c)
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
