package strategy

import (
	"context"
	"fmt"
	"time"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/verify"
)

// runner holds what every strategy's stages share: the cluster, the
// applier, the permission checker and the event sink.
type runner struct {
	c      *kube.Clients
	ap     *apply.Applier
	access *access.Checker
	sink   event.Sink
}

func newRunner(c *kube.Clients, opts apply.Options, sink event.Sink) runner {
	if sink == nil {
		sink = event.Discard
	}
	opts.Sink = sink
	return runner{c: c, ap: apply.New(c, opts), access: access.NewChecker(c.Typed), sink: sink}
}

// stage runs fn between stage events.
func (r runner) stage(name string, fn func() error) error {
	start := time.Now()
	event.Stamp(r.sink, event.Event{Type: event.StageStarted, Stage: name})
	err := fn()
	ev := event.Event{Type: event.StageFinished, Stage: name, Status: "succeeded", Duration: time.Since(start)}
	if err != nil {
		ev.Status, ev.Error, ev.Settings = "failed", err.Error(), hint.Names(err)
	}
	event.Stamp(r.sink, ev)
	return err
}

// skip reports a stage that has nothing to do.
func (r runner) skip(name, why string) {
	event.Stamp(r.sink, event.Event{Type: event.StageStarted, Stage: name})
	event.Stamp(r.sink, event.Event{Type: event.StageFinished, Stage: name, Status: "skipped", Message: why})
}

func (r runner) reportPlan(stage string, items []*apply.Item) {
	for _, it := range items {
		if it.Planned != nil {
			event.Stamp(r.sink, event.Event{Type: event.ObjectPlanned, Stage: stage, Object: it.Ref(), Action: string(it.Action)})
		}
	}
}

// wait watches the items until they are ready.
func (r runner) wait(ctx context.Context, stage string, items []*apply.Item) error {
	return r.waitWith(ctx, items, readiness.Options{Sink: r.sink, Stage: stage})
}

// waitWith watches the items until they are ready by opts.
func (r runner) waitWith(ctx context.Context, items []*apply.Item, opts readiness.Options) error {
	targets := make([]readiness.Target, 0, len(items))
	for _, it := range items {
		if it.Mapping == nil {
			continue
		}
		targets = append(targets, readiness.Target{Resource: it.Mapping.Resource, Namespace: it.Namespace, Name: it.Name(), Ref: it.Ref()})
	}
	return readiness.Wait(ctx, r.c, targets, opts)
}

// verify runs checks, reporting every attempt under stage.
func (r runner) verify(ctx context.Context, stage string, checks []verify.Spec) error {
	ctx = event.WithSink(ctx, r.sink, stage) // a check's own events (an analysis's measurements)
	return verify.RunAll(ctx, checks, func(a verify.Attempt) {
		st, msg := "failed", fmt.Sprintf("attempt %d/%d: %s", a.N, a.Of, a.Result.Detail)
		switch {
		case a.Result.OK:
			st = "passed"
		case a.Again > 0:
			st, msg = "settling", fmt.Sprintf("%s (the change may still be spreading: again in %s)", msg, a.Again)
		}
		event.Stamp(r.sink, event.Event{Type: event.CheckAttempt, Stage: stage, Object: a.Check, Status: st,
			Message: msg, Duration: a.Result.Duration})
	})
}
