package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/ptr"
)

const (
	defaultLockDuration = 30 * time.Second
	// takeAttempts bounds how often Acquire looks again after losing a
	// race; one lost race normally shows the winner's fresh Lease.
	takeAttempts = 6
)

// LockOptions configure Acquire. The zero value is usable.
type LockOptions struct {
	// Holder identifies this run to others, e.g.
	// "ci-host-12/pid 4242 (jenkins build 17)"; default
	// "<hostname>/pid <pid>".
	Holder string
	// Duration is how long the Lease stays valid without renewal; default
	// 30s, rounded up to whole seconds as the Lease stores seconds. The
	// Lock renews it every Duration/3.
	Duration time.Duration
	// Dead, if set, is asked about the holder of an unexpired Lease; true
	// means that holder is known to have died (see DeadOnThisHost), and the
	// Lease is taken over at once instead of after it expires.
	Dead func(holder string) bool
	// RenewFailed, if set, is told of every renewal that failed while the
	// lock is still held, with the time it is lost unless a renewal
	// succeeds first.
	RenewFailed func(err error, lostAt time.Time)
}

func (o LockOptions) withDefaults() LockOptions {
	if o.Holder == "" {
		o.Holder = defaultHolder()
	}
	if o.Duration <= 0 {
		o.Duration = defaultLockDuration
	}
	if r := o.Duration % time.Second; r != 0 {
		o.Duration += time.Second - r
	}
	return o
}

func defaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + "/pid " + strconv.Itoa(os.Getpid())
}

// HeldError is returned by Acquire when another run holds the app's lock.
type HeldError struct {
	App, Holder string
	// Since is when the holder acquired the lock.
	Since time.Time
	// Expires is when the lock lapses unless its holder renews it.
	Expires time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("app %s is being deployed by %s since %s (lock expires %s unless renewed)",
		e.App, e.Holder, e.Since.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339))
}

// heldError describes the holder of lease, or returns nil when it names
// none. Expired or not is for the caller to judge.
func heldError(app string, lease *coordinationv1.Lease) *HeldError {
	s := lease.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" {
		return nil
	}
	e := &HeldError{App: app, Holder: *s.HolderIdentity}
	if s.AcquireTime != nil {
		e.Since = s.AcquireTime.Time
	}
	renewed := e.Since
	if s.RenewTime != nil {
		renewed = s.RenewTime.Time
	}
	e.Expires = renewed.Add(time.Duration(ptr.Deref(s.LeaseDurationSeconds, 0)) * time.Second)
	return e
}

// lostError marks a renewal failure after which the Lease is not ours.
type lostError struct{ err error }

func (e lostError) Error() string { return e.err.Error() }
func (e lostError) Unwrap() error { return e.err }

// Lock is a held per-app lock. Its methods are safe for concurrent use.
type Lock struct {
	leases   coordinationv1client.LeaseInterface
	name     string
	app      string
	holder   string
	duration time.Duration
	isDead   func(string) bool
	failed   func(error, time.Time)
	acquired time.Time // the Lease's acquireTime as written by us

	lease *coordinationv1.Lease // last seen; owned by renewLoop until done closes
	stop  context.CancelFunc
	done  chan struct{}
	lost  chan struct{}
	err   error // why the lock was lost; set before lost closes
}

// Acquire takes the Lease "cutover-lock-<app>" in namespace ns. If another
// holder has it and it has not expired (renewTime + leaseDurationSeconds is
// in the future by this machine's clock), it returns a *HeldError. An
// expired Lease, left by a crashed run, is taken over. Every write is
// guarded by the resourceVersion read before it, so of racing acquirers
// exactly one wins.
//
// The Lock renews the Lease in the background for as long as ctx lives:
// cancelling ctx stops the renewal without releasing, as a crash would
// (a renewal in flight at that moment may still land), and the Lease then
// expires Duration after its last renewal. So pass a ctx that lives as
// long as the run, not one with a short timeout; end the lock with
// Release.
func Acquire(ctx context.Context, c kubernetes.Interface, ns, app string, opts LockOptions) (*Lock, error) {
	if err := validateApp(app); err != nil {
		return nil, fmt.Errorf("acquire lock: %w", err)
	}
	opts = opts.withDefaults()
	l := &Lock{
		leases:   c.CoordinationV1().Leases(ns),
		name:     lockName(app),
		app:      app,
		holder:   opts.Holder,
		duration: opts.Duration,
		isDead:   opts.Dead,
		failed:   opts.RenewFailed,
		done:     make(chan struct{}),
		lost:     make(chan struct{}),
	}
	lease, err := l.take(ctx)
	if err != nil {
		return nil, err
	}
	l.lease, l.acquired = lease, lease.Spec.AcquireTime.Time
	renewCtx, stop := context.WithCancel(ctx)
	l.stop = stop
	go l.renewLoop(renewCtx)
	return l, nil
}

// Holder is the identity the Lease names.
func (l *Lock) Holder() string { return l.holder }

// Lost is closed when the lock is lost: at once when the Lease is found
// taken over or deleted, or when renewing it has failed for longer than the
// lease duration (the API server is unreachable). It is not closed by
// Release or by cancelling the context given to Acquire.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Err says why the lock was lost, or returns nil while it is not. When it
// was taken over, the error wraps a *HeldError naming the new holder.
func (l *Lock) Err() error {
	select {
	case <-l.lost:
		return l.err
	default:
		return nil
	}
}

// Release stops the renewal and deletes the Lease if it is still ours.
// A Lease that was taken over is left in place and Release returns an error
// wrapping a *HeldError naming its holder. A Lease already gone is fine.
func (l *Lock) Release(ctx context.Context) error {
	l.stop()
	<-l.done
	err := l.delete(ctx, l.lease)
	if !apierrors.IsConflict(err) {
		return l.releaseErr(err)
	}
	cur, err := l.leases.Get(ctx, l.name, metav1.GetOptions{})
	if err != nil {
		return l.releaseErr(err)
	}
	if !l.ours(cur) {
		if held := heldError(l.app, cur); held != nil {
			return fmt.Errorf("release lock of app %s: lease taken over, left in place: %w", l.app, held)
		}
		return nil
	}
	return l.releaseErr(l.delete(ctx, cur))
}

func (l *Lock) delete(ctx context.Context, lease *coordinationv1.Lease) error {
	pre := &metav1.Preconditions{UID: &lease.UID, ResourceVersion: &lease.ResourceVersion}
	return l.leases.Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: pre})
}

func (l *Lock) releaseErr(err error) error {
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("release lock of app %s: %w", l.app, err)
}

// take creates or takes over the Lease, looking again after a lost race.
// It first tries to create the Lease, as a run that finished deletes it,
// and reads it only when it exists.
func (l *Lock) take(ctx context.Context) (*coordinationv1.Lease, error) {
	for i := range takeAttempts {
		lease, err := l.tryTake(ctx, i == 0)
		var held *HeldError
		switch {
		case err == nil:
			return lease, nil
		case errors.As(err, &held):
			return nil, held
		case !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err):
			return nil, fmt.Errorf("acquire lock of app %s: %w", l.app, err)
		}
	}
	return nil, fmt.Errorf("acquire lock of app %s: lease %s keeps changing", l.app, l.name)
}

// tryTake creates the Lease (at once when create is set, else if it is
// not found) or takes over one whose holder expired or died.
func (l *Lock) tryTake(ctx context.Context, create bool) (*coordinationv1.Lease, error) {
	var cur *coordinationv1.Lease
	var err error
	if !create {
		cur, err = l.leases.Get(ctx, l.name, metav1.GetOptions{})
	}
	if create || apierrors.IsNotFound(err) {
		fresh := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.name, Labels: appLabels(l.app)},
			Spec:       l.spec(time.Now(), 0),
		}
		return l.leases.Create(ctx, fresh, metav1.CreateOptions{})
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if held := heldError(l.app, cur); held != nil && held.Expires.After(now) && !l.dead(held.Holder) {
		return nil, held
	}
	next := cur.DeepCopy()
	next.Spec = l.spec(now, ptr.Deref(cur.Spec.LeaseTransitions, 0)+1)
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	for k, v := range appLabels(l.app) {
		next.Labels[k] = v
	}
	return l.leases.Update(ctx, next, metav1.UpdateOptions{})
}

func (l *Lock) spec(now time.Time, transitions int32) coordinationv1.LeaseSpec {
	t := metav1.NewMicroTime(now)
	return coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(l.holder),
		LeaseDurationSeconds: ptr.To(int32(l.duration / time.Second)),
		AcquireTime:          &t,
		RenewTime:            ptr.To(t),
		LeaseTransitions:     ptr.To(transitions),
	}
}

// ours reports whether lease is still the one this Lock acquired: same
// holder, same acquireTime (another Lock may use the same holder string).
func (l *Lock) ours(lease *coordinationv1.Lease) bool {
	s := lease.Spec
	return ptr.Deref(s.HolderIdentity, "") == l.holder &&
		s.AcquireTime != nil && s.AcquireTime.Time.Equal(l.acquired)
}

// renewLoop renews the Lease every duration/3 until ctx ends or the lock
// is lost.
func (l *Lock) renewLoop(ctx context.Context) {
	defer close(l.done)
	interval := l.duration / 3
	tick := time.NewTicker(interval)
	defer tick.Stop()
	renewed := l.lease.Spec.RenewTime.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := l.renew(ctx, interval)
		var lost lostError
		switch {
		case err == nil:
			renewed = l.lease.Spec.RenewTime.Time
		case ctx.Err() != nil:
			return
		case errors.As(err, &lost) || time.Since(renewed) >= l.duration:
			l.err = fmt.Errorf("lost the lock of app %s: %w", l.app, err)
			close(l.lost)
			return
		case l.failed != nil:
			l.failed(err, renewed.Add(l.duration))
		}
	}
}

// renew moves the Lease's renewTime to now. When the Lease changed since
// we last wrote it, it is ours only if it still names our holder and
// acquireTime (our own write whose response was lost); then it renews that.
func (l *Lock) renew(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := l.update(ctx)
	if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return err
	}
	cur, err := l.leases.Get(ctx, l.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return lostError{errors.New("the lease was deleted")}
	case err != nil:
		return err
	case !l.ours(cur):
		if held := heldError(l.app, cur); held != nil {
			return lostError{held}
		}
		return lostError{errors.New("the lease was cleared")}
	}
	l.lease = cur
	return l.update(ctx)
}

func (l *Lock) update(ctx context.Context) error {
	next := l.lease.DeepCopy()
	next.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
	got, err := l.leases.Update(ctx, next, metav1.UpdateOptions{})
	if err == nil {
		l.lease = got
	}
	return err
}
