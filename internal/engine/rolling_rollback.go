package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// rolling takes a rolling app back to its previous release: it redeploys
// that release's objects, which its record keeps, as a rolling update does
// (and rolls back to what runs now if that fails), under the app's lock,
// keeping a record of its own.
func (req RollbackRequest) rolling(ctx context.Context) error {
	cur, prev := req.Current, req.Previous
	if req.DryRun {
		objs, err := redeployObjects(ctx, release.NewStore(req.Clients.Typed, req.Clients.Namespace), prev, goingBack(prev))
		if err != nil {
			return err
		}
		req.announceRolling("would redeploy")
		return strategy.NewRolling(req.Clients, req.rollingOptions(nil)).Run(ctx, objs)
	}
	s, ctx, err := lockApp(ctx, req.Run)
	if err != nil {
		return err
	}
	defer s.unlock()
	objs, err := redeployObjects(ctx, s.store, prev, goingBack(prev))
	if err != nil {
		return err
	}
	r := &release.Record{App: cur.App, Strategy: StrategyRollback, Images: prev.Images, DeploymentImages: prev.DeploymentImages,
		Digest: prev.Digest, Holder: s.lock.Holder(), By: req.By, Started: time.Now().UTC()}
	if err := s.store.CopyObjects(ctx, r, prev); err != nil {
		warn(s.Sink, "the rollback's record keeps no objects, so a later rollback to it cannot redeploy it: "+err.Error())
	}
	rec := release.NewRecorder(s.store, r, s.sinkLog())
	req.announceRolling("redeploy")
	err = strategy.NewRolling(req.Clients, req.rollingOptions(rec)).Run(ctx, objs)
	return s.finish(ctx, rec, err)
}

// rollingOptions configure the rolling update of a rollback; a nil rec is
// a dry run.
func (req RollbackRequest) rollingOptions(rec *release.Recorder) strategy.RollingOptions {
	opts := strategy.RollingOptions{Apply: req.Apply, RollbackTimeout: req.RollbackTimeout,
		EndpointGuard: req.EndpointGuard, Sink: req.Sink, DryRun: rec == nil}
	opts.Checks = req.built(strategy.StageVerify, "")
	if rec != nil {
		opts.BeforeWrite, opts.Sink = recordStarter(rec), req.recorded(rec)
	}
	return opts
}

// announceRolling says what the rollback of a rolling app is about to do,
// and that Secrets are not part of it.
func (req RollbackRequest) announceRolling(verb string) {
	cur, prev := req.Current, req.Previous
	event.Stamp(req.Sink, event.Event{Type: event.Rollback, Stage: strategy.StageValidate, Object: "app " + cur.App,
		Status: verb, Message: fmt.Sprintf("revision %d (%s) in place of revision %d (%s)",
			prev.Revision, strings.Join(prev.Images, ", "), cur.Revision, strings.Join(cur.Images, ", "))})
	req.warnSecrets()
}

// goingBack says why a rolling rollback needs the previous release's
// objects.
func goingBack(prev *release.Record) string {
	return fmt.Sprintf("going back to revision %d means redeploying it", prev.Revision)
}
