package engine

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/rollback"
	"github.com/cutover/cutover/internal/strategy"
)

// DeploymentRollbackRequest takes one Deployment back to an earlier
// revision of its pod template, as kubectl rollout undo does, outside any
// release record.
type DeploymentRollbackRequest struct {
	Clients *kube.Clients
	Name    string
	// ToRevision is the revision to go back to; 0: the one before the
	// current.
	ToRevision int64
	Sink       event.Sink
}

// fieldManager is the field manager of what cutover writes.
const fieldManager = "cutover"

var deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// RollbackDeployment restores the Deployment's earlier pod template with
// server-side apply and waits until it has rolled out. Errors wrap
// strategy.ErrRefused when nothing was written.
func RollbackDeployment(ctx context.Context, req DeploymentRollbackRequest) error {
	ns := req.Clients.Namespace
	d, revs, err := rollback.History(ctx, req.Clients.Typed, ns, req.Name)
	if err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	target, err := rollback.Target(d, revs, req.ToRevision)
	if err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	plan, err := rollback.ManualPlan(d, target, fieldManager)
	if err != nil {
		return err
	}
	event.Stamp(req.Sink, event.Event{Type: event.Rollback, Stage: strategy.StageRollback, Object: plan.Ref,
		Status: event.Restoring, Message: fmt.Sprintf("revision %d", target.Number)})
	if err := rollback.Apply(ctx, req.Clients.Dynamic.Resource(deployments).Namespace(ns), fieldManager, plan); err != nil {
		return refusedIfDenied(err) // the only write failed: nothing changed
	}
	return readiness.Wait(ctx, req.Clients, []readiness.Target{{Resource: deployments, Namespace: ns, Name: req.Name, Ref: plan.Ref}},
		readiness.Options{Sink: req.Sink, Stage: strategy.StageRollback})
}
