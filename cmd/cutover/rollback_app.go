package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/strategy"
)

// checkDefs validates the check and approval flags before any cluster
// work, and returns a redeploy's checks: the config file's, then the
// flags'.
func (f *redeployFlags) checkDefs() (engine.CheckSet, error) {
	defs, err := f.verify.checks()
	if err != nil {
		return nil, err
	}
	if err := f.approval.validate(); err != nil {
		return nil, err
	}
	if err := f.guard.validate(); err != nil {
		return nil, err
	}
	return append(slices.Clone(f.fileChecks), defs...), nil
}

// runAppRollback takes app's production back to the previous release (see
// engine.Rollback).
func (o *rollbackOptions) runAppRollback(ctx context.Context, cmd *cobra.Command, clients *kube.Clients, ar engine.AppRollback, defs engine.CheckSet) error {
	sink, err := newSink(o.output, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	vars, err := o.redeploy.vars.variables()
	if err != nil {
		return err
	}
	secrets := o.redeploy.vars.secrets(vars)
	sink = event.Redact(sink, secrets)
	req := engine.RollbackRequest{
		Run:           engine.Run{Clients: clients, App: ar.Current.App, Holder: holderID(), Sink: sink, Secrets: secrets},
		AppRollback:   ar,
		Approval:      o.redeploy.approval.engine(terminalInput(cmd.InOrStdin(), cmd.OutOrStdout())),
		Apply:         apply.Options{Force: o.redeploy.force, TakeOver: o.redeploy.takeOver},
		EndpointGuard: o.redeploy.guard.settings(), RollbackTimeout: o.redeploy.rollbackTO, DryRun: o.dryRun,
		Checks: engine.CheckPlan{Defs: defs, Vars: o.redeploy.vars.variables, RoleVar: o.redeploy.roleVar},
	}
	err = engine.Rollback(ctx, req)
	if errors.Is(err, engine.ErrCannotRedeploy) {
		err = fmt.Errorf("%w with cutover deploy and its files", err)
	}
	report(sink, err)
	if errors.Is(err, strategy.ErrRefused) {
		return badInput{err}
	}
	return err
}
