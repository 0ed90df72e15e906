package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// appRollback is what `cutover rollback APP` needs: the release to leave
// and the one to go back to, from the app's records.
type appRollback struct {
	current, previous *release.Record
}

// findAppRollback reads app's records. ok is false when app has none (the
// argument may then name a Deployment).
func findAppRollback(ctx context.Context, store *release.Store, app string) (appRollback, bool, error) {
	recs, err := store.List(ctx, app)
	if err != nil || len(recs) == 0 {
		return appRollback{}, false, nil //nolint:nilerr // not an app with records
	}
	var ar appRollback
	for _, r := range recs {
		if r.Outcome != release.OutcomeSucceeded || r.ToColor == "" {
			continue
		}
		switch {
		case ar.current == nil:
			ar.current = r
		case r.ToColor == ar.current.FromColor:
			ar.previous = r
			return ar, true, nil
		}
	}
	if ar.current == nil {
		return ar, true, badInput{fmt.Errorf("app %s has no successful blue/green release to roll back", app)}
	}
	return ar, true, badInput{fmt.Errorf("app %s: no earlier release ran on %s: nothing to roll back to",
		app, orNone(ar.current.FromColor))}
}

// runAppRollback switches app's production back to the previous color.
func (o *rollbackOptions) runAppRollback(ctx context.Context, cmd *cobra.Command, clients *kube.Clients, ar appRollback) error {
	sink, err := newSink(o.output, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	cur, prev := ar.current, ar.previous
	lock, err := release.Acquire(context.WithoutCancel(ctx), clients.Typed, clients.Namespace, cur.App,
		release.LockOptions{Holder: holderID(), Dead: release.DeadOnThisHost})
	if err != nil {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	defer releaseLock(lock, sink)
	store := release.NewStore(clients.Typed, clients.Namespace)
	rec := release.NewRecorder(store, &release.Record{App: cur.App, Strategy: "rollback", FromColor: cur.ToColor,
		ToColor: prev.ToColor, Images: prev.Images, Digest: prev.Digest, Service: cur.Service, SelectorKey: cur.SelectorKey,
		Holder: lock.Holder()}, nil)
	bg := strategy.NewBlueGreen(clients, strategy.BlueGreenOptions{
		Service: cur.Service, SelectorKey: cur.SelectorKey, Colors: [2]string{cur.ToColor, prev.ToColor},
		Apply: apply.Options{}, Sink: event.Tee(sink, rec), BeforeWrite: rec.Start,
	})
	event.Stamp(sink, event.Event{Type: event.Rollback, Stage: strategy.StageCheckEnv, Object: "app " + cur.App,
		Status: fmt.Sprintf("switching back from revision %d (%s) to revision %d (%s)", cur.Revision, cur.ToColor, prev.Revision, prev.ToColor)})
	err = bg.Rollback(ctx, prev.ToColor, prev.Images)
	_ = rec.Finish(outcome(err), err)
	report(sink, err)
	if errors.Is(err, strategy.ErrRefused) {
		return badInput{err}
	}
	return err
}
