package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

type rollbackOptions struct {
	kube       kubeFlags
	toRevision int64
	timeout    time.Duration
	output     string
	dryRun     bool
	configPath string
	redeploy   redeployFlags
}

// redeployFlags configure rollback APP when it redeploys the previous
// release: the checks and approval of cutover deploy, which an instant
// switch back does without.
type redeployFlags struct {
	verify     verifyFlags
	approval   approvalFlags
	vars       inputFlags // --var, --var-file, --secret-var only: for checks, and masking
	roleVar    string     // from the config file
	rollbackTO time.Duration
	force      bool
	takeOver   []string // from the config file; nil: apply.DefaultTakeOver
	guard      guardFlags
	fileChecks engine.CheckSet // from the config file
}

func (f *redeployFlags) register(fs *pflag.FlagSet) {
	f.verify.register(fs)
	f.approval.register(fs)
	f.guard.register(fs)
	fs.StringArrayVar(&f.vars.vars, "var", nil, "variable K=V for Job checks and --verify-command; repeatable")
	fs.StringArrayVar(&f.vars.varFiles, "var-file", nil, "file of KEY=VALUE lines; repeatable; wins over the environment")
	fs.StringArrayVar(&f.vars.secretVars, "secret-var", nil, "name of a variable whose value must never be printed; repeatable")
	fs.DurationVar(&f.rollbackTO, "rollback-timeout", 5*time.Minute, "bound on switching back when Verify Prod of a redeploy fails")
	fs.BoolVar(&f.force, "force-conflicts", false, "redeploy: take over fields that other field managers own")
}

func newRollbackCmd() *cobra.Command {
	o := &rollbackOptions{redeploy: redeployFlags{roleVar: "TARGET_ROLE"}}
	cmd := &cobra.Command{
		Use:   "rollback (APP | deployment/NAME [--to-revision N])",
		Short: "Take an app back to its previous release, or put a Deployment back on an earlier revision",
		Long: `Rollback APP, for an app released with rolling updates (its latest release
record says so), redeploys the latest earlier successful release of other
objects from the objects its record keeps, as cutover deploy does: server-side
dry run, apply, wait until every object is ready and the Services route only
to the new pods, the --verify-* checks, and a rollback to what runs now if
any of that fails. It keeps a record of its own, so a second rollback goes
forward again. Secrets are not kept in records and stay as they are.

Rollback APP, for an app with blue/green release records, switches the
production Service back to the previous color, at once, if that color still
runs the previous release (idle policy keep). A color the scale-down policy
scaled to zero is scaled up and waited for first. Production is switched only
to a color whose pods are all ready, and the switch is confirmed through its
EndpointSlices. The check and approval flags do not apply to this instant
switch.

Otherwise (idle policy update, or a later deploy to that color failed) it
redeploys the previous release to that color from the objects its release
record keeps, through the stages of cutover deploy --strategy blue-green:
Check Env, Deploy, Verify Staged, Confirm, Switch, Verify Prod, Post (the
color rolled back from is kept). The checks and approval come from the
--verify-* and --approval flags and from -c, the deploy's config file (its
namespace, timeouts, variables, checks and approval; the release itself comes
from the record). Secrets are never kept in records: a redeploy leaves them as
they are, and says so. A record without objects (written by an older cutover,
too large, or holding --secret-var values) is refused.

Rollback deployment/NAME restores a Deployment's pod template from an earlier ReplicaSet
(kubectl rollout undo semantics), by default the revision before the current
one, and waits until every replica of it is updated and available and no
other pod is left.

It writes with server-side apply as the field manager "cutover", keeping
every other field cutover owns, so the next "cutover deploy" does not
conflict.

` + exitCodesHelp,
		Example: `  cutover rollback tomcat-service -n prod
  cutover rollback tomcat -c cutover.yaml --dry-run
  cutover rollback deployment/web -n prod
  cutover rollback deployment/web --to-revision 3`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().Int64Var(&o.toRevision, "to-revision", 0, "revision to go back to (default: the one before the current)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on the rollback and the wait")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output: text or json")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "rollback APP: say which way it would go back and dry-run a redeploy on the server; write nothing")
	cmd.Flags().StringVarP(&o.configPath, "config", "c", "", "rollback APP: the deploy's config file (cutover.yaml) for namespace, timeouts, variables, checks and approval; flags override it")
	o.redeploy.register(cmd.Flags())
	return cmd
}

func (o *rollbackOptions) run(cmd *cobra.Command, arg string) error {
	name, err := deploymentName(arg)
	if err != nil {
		return err
	}
	if err := o.applyConfig(cmd.Flags()); err != nil {
		return err
	}
	checks, err := o.redeploy.checkDefs()
	if err != nil {
		return err
	}
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	ctx, cancel := contextWithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	if !strings.Contains(arg, "/") {
		ar, isApp, err := engine.FindRollback(ctx, release.NewStore(clients.Typed, clients.Namespace), arg)
		if err != nil {
			return badInput{err}
		}
		if isApp {
			return o.runAppRollback(ctx, cmd, clients, ar, checks)
		}
	}
	if o.dryRun {
		return usageError{fmt.Errorf("--dry-run: only for rollback APP, and %s has no release records", arg)}
	}
	sink, err := newSink(o.output, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	err = engine.RollbackDeployment(ctx, engine.DeploymentRollbackRequest{Clients: clients, Name: name, ToRevision: o.toRevision, Sink: sink})
	report(sink, err)
	return err
}

// deploymentName accepts deployment/NAME, deploy/NAME, deployments/NAME or NAME.
func deploymentName(arg string) (string, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		return arg, nil
	}
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "deploy", "deployment.apps", "deployments.apps":
		if name != "" {
			return name, nil
		}
	}
	return "", usageError{fmt.Errorf("%q: want deployment/NAME", arg)}
}
