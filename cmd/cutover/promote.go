package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

type promoteOptions struct {
	kube        kubeFlags
	verify      verifyFlags
	vars        inputFlags // --var, --var-file, --secret-var only: for checks, and masking
	by, comment string
	timeout     time.Duration
	rollbackTO  time.Duration
	output      string
	reports     reportFlags
	guard       guardFlags
}

func newPromoteCmd() *cobra.Command {
	o := &promoteOptions{}
	cmd := &cobra.Command{
		Use:   "promote APP",
		Short: "Go on with the release of APP: a staged blue/green one, or a canary paused at a step",
		Long: `A canary release of APP paused at a step without a duration goes on to
its next step: the deploy that runs it is told through the release record.
Exit code 3 when it is not paused.

Promote continues the blue/green release of APP that cutover deploy
--until confirm stopped after Verify Staged: Switch, Verify Prod (the
--verify-* checks; the release's own config-file checks are not read here),
and Post with the release's idle policy, switching back at once if Verify Prod
fails. It writes to that release's record, noting the promote as its approval
(--by, default $CUTOVER_USER, $BUILD_USER_ID, $GITHUB_ACTOR, $GITLAB_USER_LOGIN
or user@host).

It refuses, exit 3, with production untouched and the release still pending,
when no release of APP is pending (or it expired: --approval-timeout of the
deploy), when another run holds APP's lock (a second promote), when
production no longer selects the color it did, or when the staged color
changed since Verify Staged: a pod lost or not ready, a pod template changed.

` + exitCodesHelp,
		Example: `  cutover deploy -f k8s/ --strategy blue-green --service web --until confirm
  cutover promote web -n prod --verify-url http://web.prod/ --verify-contains "Tomcat/8"`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	fs := cmd.Flags()
	o.kube.register(fs)
	o.verify.register(fs)
	fs.StringArrayVar(&o.vars.vars, "var", nil, "variable K=V for --verify-command; repeatable")
	fs.StringArrayVar(&o.vars.secretVars, "secret-var", nil, "name of a variable whose value must never be printed; repeatable")
	fs.StringVar(&o.by, "by", "", "who promotes (default: from the environment, see above)")
	fs.StringVar(&o.comment, "comment", "", "a note kept in the release record")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on the promote, switch back excluded")
	fs.DurationVar(&o.rollbackTO, "rollback-timeout", 2*time.Minute, "bound on switching back when Verify Prod fails")
	fs.StringVarP(&o.output, "output", "o", "text", "output: text or json")
	o.reports.register(fs)
	o.guard.register(fs)
	return cmd
}

func (o *promoteOptions) run(cmd *cobra.Command, app string) error {
	defs, err := o.verify.checks()
	if err != nil {
		return err
	}
	if err := o.guard.validate(); err != nil {
		return err
	}
	sink, err := o.reports.sink(o.output, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	vars, err := o.vars.variables()
	if err != nil {
		return err
	}
	secrets := o.vars.secrets(vars)
	sink = event.Redact(sink, secrets)
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	ctx, cancel := contextWithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	req := engine.PromoteRequest{
		Run: engine.Run{Clients: clients, App: app, Holder: holderID(), Sink: sink, Secrets: secrets},
		By:  orDecider(o.by), Comment: o.comment, RollbackTimeout: o.rollbackTO,
		Checks:        engine.CheckPlan{Defs: defs, Vars: o.vars.variables},
		EndpointGuard: o.guard.settings(),
	}
	err = engine.Promote(ctx, req)
	report(sink, err)
	o.reports.write(cmd.ErrOrStderr(), app, engine.BlueGreen, clients.Namespace)
	if errors.Is(err, strategy.ErrRefused) {
		return badInput{err}
	}
	return err
}

type abortOptions struct {
	kube        kubeFlags
	by, comment string
	timeout     time.Duration
}

func newAbortCmd() *cobra.Command {
	o := &abortOptions{}
	cmd := &cobra.Command{
		Use:   "abort APP",
		Short: "End the release of APP: a canary in progress, or one staged by deploy --until confirm",
		Long: `A canary release of APP in progress is told to abort, through its
record: the deploy that runs it puts all traffic back on stable in one
write, confirms it, scales the canary down and exits 4. Abort waits for
that, up to --timeout, and prints the outcome.

Abort ends the blue/green release of APP that cutover deploy --until confirm
stopped after Verify Staged: its record says aborted, and who aborted it
(--by, default $CUTOVER_USER, $BUILD_USER_ID, $GITHUB_ACTOR, $GITLAB_USER_LOGIN
or user@host). Production is untouched; the staged color stays as it is, the
idle color that the next release replaces.

Exit code 3 when no release of APP is pending or another run holds its lock.`,
		Example: `  cutover abort web -n prod --comment "rejected in Jenkins"`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE:    func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().StringVar(&o.by, "by", "", "who aborts (default: from the environment, see above)")
	cmd.Flags().StringVar(&o.comment, "comment", "", "a note kept in the release record")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "canary: bound on the wait for the run to abort")
	return cmd
}

func (o *abortOptions) run(cmd *cobra.Command, app string) error {
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	by := orDecider(o.by)
	ctx, cancel := contextWithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	r, err := engine.Abort(ctx, engine.AbortRequest{
		Run: engine.Run{Clients: clients, App: app, Holder: holderID(), Sink: warnings(cmd.ErrOrStderr())}, By: by, Comment: o.comment})
	if errors.Is(err, strategy.ErrRefused) {
		return badInput{err}
	}
	if err != nil {
		return forbiddenIsBadInput(err)
	}
	if r.Strategy == engine.Canary {
		return canaryAborted(cmd.OutOrStdout(), r, by)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "aborted revision %d of %s (staged on %s) as %s; production untouched\n", r.Revision, r.App, r.ToColor, by)
	return nil
}

// warnings prints the warnings among events to w.
func warnings(w io.Writer) event.Sink {
	return event.Func(func(e event.Event) {
		if e.Type == event.Warning {
			fmt.Fprintln(w, "warning: "+e.Message)
		}
	})
}

// canaryAborted reports how the canary's run ended after the abort.
func canaryAborted(w io.Writer, r *release.Record, by string) error {
	if r.Outcome != release.OutcomeRolledBack {
		return fmt.Errorf("revision %d of %s was asked to abort, as %s, and ended %s: %s", r.Revision, r.App, by, r.Outcome, r.Error)
	}
	fmt.Fprintf(w, "aborted revision %d of %s (a canary) as %s: all traffic is back on stable, the canary scaled down\n", r.Revision, r.App, by)
	return nil
}

// orDecider is by, or the person the environment names.
func orDecider(by string) string {
	if by != "" {
		return by
	}
	return decider()
}
