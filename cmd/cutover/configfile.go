package main

import (
	"os"
	"slices"

	"github.com/spf13/pflag"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/notify"
)

// applyConfig loads --config, if given, under the flags: a flag given on
// the command line wins over the file. Its errors are bad input.
func (o *deployOptions) applyConfig(fs *pflag.FlagSet) error {
	if o.configPath == "" {
		return nil
	}
	cfg, err := config.Load(o.configPath)
	if err != nil {
		return badInput{err}
	}
	set := fs.Changed
	config.UseString(&o.kube.namespace, cfg.Namespace, set("namespace"))
	config.UseString(&o.strategy, cfg.Strategy, set("strategy"))
	config.UseList(&o.input.files, cfg.Files, set("filename"))
	o.input.applyConfigVars(cfg)
	config.Use(&o.input.strict, cfg.StrictVars, set("strict-vars"))
	config.Use(&o.timeout, cfg.Timeout, set("timeout"))
	config.Use(&o.rollbackTO, cfg.RollbackTimeout, set("rollback-timeout"))
	config.Use(&o.noRollback, cfg.NoRollback, set("no-rollback"))
	config.Use(&o.strict, cfg.Strict, set("strict"))
	config.Use(&o.force, cfg.ForceConflicts, set("force-conflicts"))
	o.takeOver = cfg.TakeOverFrom
	config.UseString(&o.bg.app, cfg.App, set("app"))
	o.bg.applyConfig(cfg.BlueGreen, set)
	o.canary.applyConfig(cfg.Canary, &o.bg, set)
	o.guard.applyConfig(cfg.EndpointGuard, set)
	o.fileChecks = engine.ConfigChecks(cfg)
	return o.approval.applyConfig(cfg.Approval, set)
}

// applyConfig loads --config for rollback APP, under the flags: what the
// deploy's file says about running a release (namespace, timeouts,
// variables, checks, approval). What is released, and where (files,
// service, colors), comes from the release records instead. Its errors are
// bad input.
func (o *rollbackOptions) applyConfig(fs *pflag.FlagSet) error {
	if o.configPath == "" {
		return nil
	}
	cfg, err := config.Load(o.configPath)
	if err != nil {
		return badInput{err}
	}
	set, r := fs.Changed, &o.redeploy
	config.UseString(&o.kube.namespace, cfg.Namespace, set("namespace"))
	config.Use(&o.timeout, cfg.Timeout, set("timeout"))
	config.Use(&r.rollbackTO, cfg.RollbackTimeout, set("rollback-timeout"))
	config.Use(&r.force, cfg.ForceConflicts, set("force-conflicts"))
	r.takeOver = cfg.TakeOverFrom
	config.UseString(&r.roleVar, cfg.BlueGreen.RoleVar, false)
	r.guard.applyConfig(cfg.EndpointGuard, set)
	r.vars.applyConfigVars(cfg)
	r.fileChecks = engine.ConfigChecks(cfg)
	return r.approval.applyConfig(cfg.Approval, set)
}

// applyConfigVars puts the file's variables under those of the flags.
func (f *inputFlags) applyConfigVars(cfg *config.Config) {
	f.varFiles = append(slices.Clone(cfg.VarFiles), f.varFiles...)
	f.vars = append(cfg.VarList(), f.vars...)
	f.secretVars = append(slices.Clone(cfg.SecretVars), f.secretVars...)
}

func (f *blueGreenFlags) applyConfig(c config.BlueGreen, set func(string) bool) {
	config.UseString(&f.service, c.Service, set("service"))
	config.UseString(&f.selectorKey, c.SelectorKey, set("selector-key"))
	config.UseString(&f.roleVar, c.RoleVar, set("role-var"))
	config.UseList(&f.colors, c.Colors, set("colors"))
	config.UseString(&f.idlePolicy, c.IdlePolicy, set("idle-policy"))
	config.Use(&f.scaleDownDelay, c.ScaleDownDelay, set("scale-down-delay"))
	config.Use(&f.managed, c.Managed, set("managed"))
}

func (f *approvalFlags) applyConfig(c config.Approval, set func(string) bool) error {
	config.UseString(&f.mode, c.Mode, set("approval"))
	config.Use(&f.timeout, c.Timeout, set("approval-timeout"))
	if w := c.Notify.Webhook; w != nil && !set("notify-webhook") {
		url, headers, err := w.Resolve(os.LookupEnv)
		if err != nil {
			return badInput{err}
		}
		f.webhook, f.headers = url, headers
	}
	if s := c.Notify.SMTP; s != nil {
		f.smtp = &notify.SMTP{Host: s.Host, TLS: notify.TLSMode(s.TLS), Username: s.Username,
			PasswordEnv: s.PasswordEnv, From: s.From, To: s.To}
		config.Use(&f.smtp.Port, s.Port, false)
	}
	return nil
}
