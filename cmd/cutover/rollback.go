package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/rollback"
)

type rollbackOptions struct {
	kube       kubeFlags
	toRevision int64
	timeout    time.Duration
	output     string
}

func newRollbackCmd() *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback (APP | deployment/NAME [--to-revision N])",
		Short: "Switch a blue/green app back to its previous color, or put a Deployment back on an earlier revision",
		Long: `Rollback APP, for an app with blue/green release records, switches the
production Service back to the previous color, at once, if that color still
runs the previous release (idle policy keep). A color the scale-down policy
scaled to zero is scaled up and waited for first. Production is switched only
to a color whose pods are all ready, and the switch is confirmed through its
EndpointSlices. If the previous color was updated to the new release (idle
policy update), it is refused: deploy the previous version again.

Rollback deployment/NAME restores a Deployment's pod template from an earlier ReplicaSet
(kubectl rollout undo semantics), by default the revision before the current
one, and waits until every replica of it is updated and available and no
other pod is left.

It writes with server-side apply as the field manager "cutover", keeping
every other field cutover owns, so the next "cutover deploy" does not
conflict.

` + exitCodesHelp,
		Example: `  cutover rollback tomcat-service -n prod
  cutover rollback deployment/web -n prod
  cutover rollback deployment/web --to-revision 3`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().Int64Var(&o.toRevision, "to-revision", 0, "revision to go back to (default: the one before the current)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on the rollback and the wait")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output: text or json")
	return cmd
}

func (o *rollbackOptions) run(cmd *cobra.Command, arg string) error {
	name, err := deploymentName(arg)
	if err != nil {
		return err
	}
	clients, err := o.kube.connect()
	if err != nil {
		return badInput{err}
	}
	ctx, cancel := contextWithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	if !strings.Contains(arg, "/") {
		ar, isApp, err := findAppRollback(ctx, release.NewStore(clients.Typed, clients.Namespace), arg)
		if err != nil {
			return err
		}
		if isApp {
			return o.runAppRollback(ctx, cmd, clients, ar)
		}
	}
	sink, err := newSink(o.output, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	d, revs, err := rollback.History(ctx, clients.Typed, clients.Namespace, name)
	if err != nil {
		return badInput{err}
	}
	target, err := rollback.Target(d, revs, o.toRevision)
	if err != nil {
		return badInput{err}
	}
	plan, err := rollback.ManualPlan(d, target, "cutover")
	if err != nil {
		return err
	}
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	event.Stamp(sink, event.Event{Type: event.Rollback, Stage: "Rollback", Object: plan.Ref,
		Status: fmt.Sprintf("restoring revision %d", target.Number)})
	if err := rollback.Apply(ctx, clients.Dynamic.Resource(gvr).Namespace(clients.Namespace), "cutover", plan); err != nil {
		return forbiddenIsBadInput(err)
	}
	err = readiness.Wait(ctx, clients, []readiness.Target{{Resource: gvr, Namespace: clients.Namespace, Name: name, Ref: plan.Ref}},
		readiness.Options{Sink: sink, Stage: "Rollback"})
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
