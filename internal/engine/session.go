package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// Run is what every action that changes an app needs.
type Run struct {
	Clients *kube.Clients
	// App names the app in its lock and its release records.
	App string
	// Holder names this run in the app's lock and its record; default
	// "<host>/pid <pid>". A run holding the lock on this host that died is
	// taken over at once (release.DeadOnThisHost).
	Holder string
	// Sink receives the run's events.
	Sink event.Sink
	// Secrets are values masked in records, events and errors.
	Secrets []string
	// revision is the revision of the run's record once stored (0
	// before): analyses name it ({{.Revision}}, a Job's CUTOVER_REVISION).
	revision *atomic.Int64
}

// withRevision gives r a revision of its own to learn from its record.
func (r Run) withRevision() Run {
	if r.revision == nil {
		r.revision = new(atomic.Int64)
	}
	return r
}

// Revision is the revision of the run's record, 0 until it is stored.
func (r Run) Revision() int {
	if r.revision == nil {
		return 0
	}
	return int(r.revision.Load())
}

// recorded is the run's sink, with rec receiving its events too (secret
// values masked).
func (r Run) recorded(rec *release.Recorder) event.Sink {
	return event.Tee(r.Sink, event.Redact(rec, r.Secrets))
}

// KeepRecords is how many release records of an app are kept.
const KeepRecords = 30

// ErrRejected is wrapped by Confirm's error when a person rejected the
// release.
var ErrRejected = errors.New("release rejected")

// session is a run holding its app's lock.
type session struct {
	Run
	store  *release.Store
	lock   *release.Lock
	cancel context.CancelCauseFunc
}

// lockApp takes the app's lock and returns a context that ends, with the
// reason as its cause, when the lock is lost: a run must not go on writing
// what another run may now be writing too. unlock releases it.
func lockApp(ctx context.Context, r Run) (*session, context.Context, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	s, err := acquire(ctx, r, cancel)
	if err != nil {
		cancel(nil)
		return nil, ctx, err
	}
	return s, ctx, nil
}

// acquire takes the app's lock, calling cancel with the reason when it is
// lost.
func acquire(ctx context.Context, r Run, cancel context.CancelCauseFunc) (*session, error) {
	lock, err := release.Acquire(context.WithoutCancel(ctx), r.Clients.Typed, r.Clients.Namespace, r.App,
		release.LockOptions{Holder: r.Holder, Dead: release.DeadOnThisHost, RenewFailed: r.renewFailed})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	s := &session{Run: r, store: release.NewStore(r.Clients.Typed, r.Clients.Namespace), lock: lock, cancel: cancel}
	go func() {
		select {
		case <-lock.Lost():
			warn(r.Sink, lock.Err().Error()+"; the run stops, since another run may now take the app")
			cancel(lock.Err())
		case <-ctx.Done():
		}
	}()
	return s, nil
}

// renewFailed warns that the lock could not be renewed.
func (r Run) renewFailed(err error, lostAt time.Time) {
	warn(r.Sink, fmt.Sprintf("the lock of app %s was not renewed: %v; it is lost at %s unless a renewal succeeds first",
		r.App, err, lostAt.UTC().Format(time.RFC3339)))
}

// unlock releases the lock; a lock that cannot be released expires by
// itself.
func (s *session) unlock() {
	s.cancel(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.lock.Release(ctx); err != nil {
		warn(s.Sink, "the lock was not released; it expires by itself: "+err.Error())
	}
}

// finish ends the run's record with its outcome err (and the reason ctx
// ended, such as a lost lock), then prunes the app's old records, and
// returns err. Revisions count from 1 and are never reused, so while this
// run's revision is within KeepRecords there is nothing to prune and no
// list to make.
func (s *session) finish(ctx context.Context, rec *release.Recorder, err error) error {
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(err, cause) {
		err = fmt.Errorf("%w (%w)", err, cause)
	}
	if lost := rec.ObjectsLost(); lost != nil {
		warn(s.Sink, "the release record keeps no objects, so a rollback to this release can only switch back, not redeploy: "+lost.Error())
	}
	_ = rec.Finish(Outcome(err), event.RedactError(err, s.Secrets)) // a failure is a warning: the recorder's log
	if r := rec.Record(); r.Revision > KeepRecords {
		if perr := s.store.Prune(context.WithoutCancel(ctx), r.App, KeepRecords); perr != nil {
			warn(s.Sink, "old release records were not pruned: "+perr.Error())
		}
	}
	return err
}

// closeInterrupted marks the app's latest record aborted if it is still
// running (its run died: we hold the lock). It returns that record when it
// released the same objects (digest), for a blue/green run to resume from.
// It refuses while a release waits before Confirm (checkPending).
func (s *session) closeInterrupted(ctx context.Context, digest string) (*release.Record, error) {
	prev, err := s.store.Latest(ctx, s.App)
	if err != nil || prev == nil {
		return nil, nil //nolint:nilerr // no readable previous record: nothing to close
	}
	if prev.Outcome != release.OutcomeRunning {
		return nil, s.checkPending(ctx, prev)
	}
	prev.Outcome, prev.Error, prev.Finished = release.OutcomeAborted, "interrupted: the run stopped without finishing", time.Now().UTC()
	if prev.Approval != nil && prev.Approval.State == release.ApprovalPending {
		prev.Approval.State = release.ApprovalExpired
	}
	if err := s.store.Update(ctx, prev); err != nil {
		return nil, fmt.Errorf("%w: close interrupted record: %w", strategy.ErrRefused, err)
	}
	event.Stamp(s.Sink, event.Event{Type: event.Warning, Object: "app " + s.App,
		Message: fmt.Sprintf("revision %d was interrupted (its run stopped without finishing): recorded as aborted", prev.Revision)})
	if prev.Digest != digest {
		return nil, nil
	}
	return prev, nil
}

// RecordNeeds are the permissions of the lock and the release records.
func RecordNeeds(ns string) []access.Need {
	return append(access.Verbs(ns, access.Leases, "the per-app lock", "get", "create", "update", "delete"),
		access.Verbs(ns, access.ConfigMaps, "release records and approvals", "get", "list", "watch", "create", "update", "delete")...)
}

// Outcome names how a run that ended with err went, for its record.
func Outcome(err error) string {
	switch {
	case err == nil:
		return release.OutcomeSucceeded
	case strategy.IsRolledBack(err):
		return release.OutcomeRolledBack
	case errors.Is(err, strategy.ErrRefused), errors.Is(err, ErrRejected):
		return release.OutcomeAborted
	}
	return release.OutcomeFailed
}

// refusedIfDenied marks the error of a request the API server denied
// (forbidden, unauthorized) as a refusal: used where that request was the
// action's only write, or a read before any, so nothing changed.
func refusedIfDenied(err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	return err
}

func warn(sink event.Sink, msg string) {
	event.Stamp(sink, event.Event{Type: event.Warning, Message: msg})
}
