package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/output"
	"github.com/cutover/cutover/internal/strategy"
)

type deployOptions struct {
	kube       kubeFlags
	input      inputFlags
	verify     verifyFlags
	bg         blueGreenFlags
	canary     canaryFlags
	approval   approvalFlags
	guard      guardFlags
	strategy   string
	timeout    time.Duration
	rollbackTO time.Duration
	dryRun     bool
	noRollback bool
	strict     bool // refuse zero-downtime hazards
	force      bool
	takeOver   []string // nil: apply.DefaultTakeOver
	takeOwn    bool
	output     string
	configPath string
	fileChecks engine.CheckSet // from the config file
	until      string          // "confirm": stop before Confirm, pending
	reports    reportFlags
}

func newDeployCmd() *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy -f PATH... [flags]",
		Short: "Apply resources and see the release through: ready, verified, or rolled back",
		Long: `Deploy applies the resources with server-side apply (field manager "cutover")
and sees the release through.

  1. Validate: every object passes a server-side dry run before the first
     write; one bad object means nothing is written. The zero-downtime
     pre-flight then reads each Deployment a Service routes to (in the files
     or already in the cluster) and warns about what drops requests however
     the rollout runs: no readiness probe, no preStop delay, a grace period
     shorter than the preStop, a rollout that may stop the last ready pod,
     Recreate. --strict refuses such a release instead; the annotation
     cutover.dev/allow-hazards: RULE[,RULE] on a Deployment accepts one.
  2. Apply: Namespaces and CRDs, then ServiceAccounts, RBAC, ConfigMaps and
     Secrets, then Services, then workloads; in parallel within each group.
  3. Wait: watch every object until it is ready (kstatus). A Deployment is
     done when all replicas are updated and available and no old pod is left.
     A crash-looping, unpullable or unschedulable new pod, or the progress
     deadline, fails the release at once, naming the pod. Then each Service
     in front of a Deployment is watched until its EndpointSlices hold
     exactly the ready pods it selects: traffic reaches only new pods.
     Meanwhile the endpoint guard compares each such Service's ready
     endpoints with its ready pods. When one pod's endpoint disagrees for
     --endpoint-grace (a stuck EndpointSlice controller, as after an API
     server restart), it resyncs the controller with an annotation on the
     Service, drops the endpoints of pods that are gone from the slices if
     the controller still does not follow, and while the Service still routes to pods the rollout is
     removing it pauses the Deployment, resuming it once they agree. Every
     step is a warning event.
  4. Verify: optional HTTP checks (--verify-url).
  5. Rollback: if waiting or verifying fails, every Deployment the release
     changed goes back to its previous pod template, and cutover waits until
     that revision is fully available again and its Services route to it.

Canary (--strategy canary): the files' one Deployment stays the stable
one; cutover runs NAME-canary (the new pod template, label
cutover.dev/track=canary) behind the same Services, and --steps give it
traffic: a weight (its replicas are that share of stable's, so the split is
by pods: an approximation, reported as such), pause=DURATION, pause (until
cutover promote APP), analysis=CHECK (a config file check, run there only).
Then stable takes the new template and rolls out fully before the canary is
scaled away. A failed step, cutover abort APP or --timeout aborts: the
canary goes to zero in one write, confirmed in the EndpointSlices; exit 4.
With --route NAME (an HTTPRoute of the files sending to the app's Service
S), the split is exact: cutover derives S-stable and S-canary and sets the
route's weights at each step, confirmed by the route's status; an abort is
one route write to 100/0.

Variables: $VAR and ${VAR} are replaced inside parsed YAML values and keys,
never in raw text, so a value cannot add keys or objects. $$ is a literal $.
Undefined variables stay as written (warned), or fail with --strict-vars.
Sources, later winning: the environment, --var-file, --var.

` + exitCodesHelp,
		Example: `  cutover deploy -f deploy/ --var TOMCAT_VERSION=8
  cutover deploy -f deploy/ --strategy canary --steps 10,pause=2m,50,analysis=error-rate,pause
  cutover deploy -f deploy/ --strategy canary --route web --steps 5,pause=5m,25,50,pause
  helm template app ./chart | cutover deploy -f - -n prod --timeout 5m
  cutover deploy -f 'k8s/**/*.yaml' --verify-url http://app.example.com/ --verify-contains "Apache Tomcat/8"`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	fs := cmd.Flags()
	o.kube.register(fs)
	o.input.register(fs)
	o.verify.register(fs)
	o.bg.register(fs)
	o.canary.register(fs)
	o.approval.register(fs)
	o.guard.register(fs)
	o.reports.register(fs)
	fs.StringVar(&o.strategy, "strategy", "rolling", "deployment strategy: rolling, blue-green or canary")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on the whole run, rollback excluded")
	fs.DurationVar(&o.rollbackTO, "rollback-timeout", 5*time.Minute, "bound on the rollback after a failure")
	fs.BoolVar(&o.dryRun, "dry-run", false, "validate with a server-side dry run, print what would change, write nothing")
	fs.BoolVar(&o.noRollback, "no-rollback", false, "leave a failed release as it is")
	fs.BoolVar(&o.strict, "strict", false, "refuse a release whose Deployments have zero-downtime hazards (no readiness probe, no preStop delay, a rollout that takes the last pod...) instead of warning")
	fs.BoolVar(&o.force, "force-conflicts", false, "take over fields that other field managers own")
	fs.BoolVar(&o.takeOwn, "take-ownership", false, "apply objects that a Helm release owns (refused without it), taking their fields from Helm")
	fs.StringVar(&o.until, "until", "", "blue-green: confirm stops after Verify Staged, the release pending (production untouched) until `cutover promote APP` or `cutover abort APP`, or --approval-timeout; exit 0. With --approval manual its notifications go out, naming those commands")
	fs.StringVarP(&o.configPath, "config", "c", "", "config file (cutover.yaml): app, strategy, files, checks, approval, notifications; flags override it")
	fs.StringVarP(&o.output, "output", "o", "text", "output: text (live view on a terminal, plain lines otherwise) or json (one event per line)")
	return cmd
}

func (o *deployOptions) run(cmd *cobra.Command) error {
	if err := o.applyConfig(cmd.Flags()); err != nil {
		return err
	}
	strat, err := o.checkStrategy()
	if err != nil {
		return err
	}
	for _, name := range []string{"steps", "route", "abort-scale-down-delay", "stable-service", "canary-service", "dynamic-stable-scale", "proxy-sync-delay"} {
		if strat != engine.Canary && cmd.Flags().Changed(name) {
			return usageError{fmt.Errorf("--%s: only with --strategy canary", name)}
		}
	}
	blueGreen := strat == engine.BlueGreen
	if err := o.validateUntil(blueGreen); err != nil {
		return err
	}
	if err := o.guard.validate(); err != nil {
		return err
	}
	sink, err := o.reports.sink(o.output, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	defs, err := o.verify.checks()
	if err != nil {
		return err
	}
	defs = append(o.fileChecks, defs...)
	stdin, err := o.input.rereadableStdin(cmd.InOrStdin())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var extra []string
	if blueGreen {
		extra = []string{o.bg.roleVar + "=" + o.bg.colors[0]} // validates the files before any cluster work
	}
	set, secrets, err := o.input.load(ctx, stdin(), extra...)
	if err != nil {
		return err
	}
	sink = event.Redact(sink, secrets)
	warnUndefined(sink, set.Undefined)
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	clients.PrefetchDiscovery() // while the pre-flight checks run
	ctx, cancel := contextWithTimeout(ctx, o.timeout)
	defer cancel()
	req := engine.DeployRequest{
		Run:      engine.Run{Clients: clients, App: o.appName(blueGreen, set.Objects), Holder: holderID(), Sink: sink, Secrets: secrets},
		Strategy: strat, Objects: set.Objects, Canary: o.canary.settings(&o.bg, &o.approval),
		Apply:         apply.Options{Force: o.force, TakeOver: o.takeOver, TakeOwnership: o.takeOwn},
		EndpointGuard: o.guard.settings(), StrictHazards: o.strict, DryRun: o.dryRun,
		NoRollback: o.noRollback, RollbackTimeout: o.rollbackTO,
		UntilConfirm: o.until == untilConfirm, PendingFor: o.approval.timeout,
		Checks: engine.CheckPlan{Defs: defs, Vars: o.input.variables, RoleVar: o.bg.roleVar},
	}
	if blueGreen {
		o.blueGreenRequest(ctx, &req, stdin, terminalInput(cmd.InOrStdin(), cmd.OutOrStdout()))
	}
	err = engine.Deploy(ctx, req)
	defer o.reports.write(cmd.ErrOrStderr(), req.App, req.Strategy, clients.Namespace)
	if err == nil && req.UntilConfirm && !o.dryRun {
		announcePending(sink, req.App, clients.Namespace)
		event.Stamp(sink, event.Event{Type: event.Result, Status: "pending"})
		return nil
	}
	report(sink, err)
	return event.RedactError(err, secrets)
}

// blueGreenRequest makes req a blue/green release: files rendered per
// color, the Confirm gate.
func (o *deployOptions) blueGreenRequest(ctx context.Context, req *engine.DeployRequest, stdin func() io.Reader, terminal io.Reader) {
	req.Strategy = engine.BlueGreen
	req.BlueGreen = engine.BlueGreenSettings{Service: o.bg.service, SelectorKey: o.bg.selectorKey,
		Colors: [2]string{o.bg.colors[0], o.bg.colors[1]}, IdlePolicy: o.bg.idlePolicy,
		ScaleDownDelay: o.bg.scaleDownDelay, Managed: o.bg.managed}
	render := func(ctx context.Context, color string) ([]manifest.Object, error) {
		s, _, err := o.input.load(ctx, stdin(), o.bg.roleVar+"="+color)
		return objectsOf(s), err
	}
	req.Render = prerendered(ctx, render, o.bg.colors)
	req.Approval = o.approval.engine(terminal)
	if req.Approval != nil && req.UntilConfirm { // the promote is the approval: tell people how
		req.Approval.Gate, req.Approval.Commands = nil, promoteCommands
	}
}

// promoteCommands are the commands that go on with, or end, app's release
// staged with --until confirm.
func promoteCommands(app, ns string) (promote, abort string) {
	return fmt.Sprintf("cutover promote %s -n %s", app, ns), fmt.Sprintf("cutover abort %s -n %s", app, ns)
}

// untilConfirm is --until's one value.
const untilConfirm = "confirm"

// announcePending tells people how to go on with a release stopped before
// Confirm.
func announcePending(sink event.Sink, app, ns string) {
	promote, abort := promoteCommands(app, ns)
	event.Stamp(sink, event.Event{Type: event.Approval, Stage: strategy.StageConfirm, Object: "approval", Status: "pending",
		Message: fmt.Sprintf("go on with %q, or end it with %q", promote, abort)})
}

func (o *deployOptions) validateUntil(blueGreen bool) error {
	switch {
	case o.until == "":
		return nil
	case o.until != untilConfirm:
		return usageError{fmt.Errorf("--until %q: want confirm", o.until)}
	case !blueGreen:
		return usageError{errors.New("--until confirm: only with --strategy blue-green")}
	case o.bg.idlePolicy == strategy.IdleUpdate:
		return usageError{errors.New("--until confirm with --idle-policy update: a promote has no files to render the idle color from; use keep or scale-down")}
	}
	return nil
}

// checkStrategy validates --strategy and its flags, and returns the
// engine's name for it.
func (o *deployOptions) checkStrategy() (string, error) {
	switch o.strategy {
	case "rolling":
		return engine.Rolling, nil
	case "blue-green", "bluegreen":
		if err := o.bg.validate(); err != nil {
			return "", err
		}
		return engine.BlueGreen, o.approval.validate()
	case "canary":
		if err := o.canary.validate(); err != nil {
			return "", err
		}
		return engine.Canary, o.approval.validate() // its notifications
	}
	return "", usageError{fmt.Errorf("--strategy %q: want rolling, blue-green or canary", o.strategy)}
}

func warnUndefined(sink event.Sink, names []string) {
	if len(names) > 0 {
		event.Stamp(sink, event.Event{Type: event.Warning,
			Message: "undefined variables left as written: " + strings.Join(names, ", ") + " (use --strict-vars to fail instead)"})
	}
}

func report(sink event.Sink, err error) {
	e := event.Event{Type: event.Result, Status: "succeeded"}
	if err != nil {
		e.Status, e.Error, e.Settings = "failed", errorText(err), hint.Names(err)
		switch {
		case strategy.IsRollbackFailure(err):
			e.Status = "rollback failed"
		case strategy.IsRolledBack(err):
			e.Status = "rolled back"
		}
	}
	event.Stamp(sink, e)
}

// newSink picks the output for -o.
func newSink(format string, w io.Writer) (event.Sink, error) {
	switch format {
	case "json":
		return flagHints(output.NewJSON(w)), nil
	case "text":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			width, _, _ := term.GetSize(int(f.Fd()))
			return flagHints(output.NewLive(f, width)), nil
		}
		return flagHints(output.NewLines(w)), nil
	}
	return nil, usageError{fmt.Errorf("-o %q: want text or json", format)}
}

func objectsOf(s *manifest.Set) []manifest.Object {
	if s == nil {
		return nil
	}
	return s.Objects
}
