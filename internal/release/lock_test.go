package release_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/release"
)

func getLease(t *testing.T, ns, app string) *coordinationv1.Lease {
	t.Helper()
	l, err := cluster.Client.CoordinationV1().Leases(ns).Get(context.Background(), "cutover-lock-"+app, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get lease: %v", err)
	}
	return l
}

func leaseGone(t *testing.T, ns, app string) bool {
	t.Helper()
	_, err := cluster.Client.CoordinationV1().Leases(ns).Get(context.Background(), "cutover-lock-"+app, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("get lease: %v", err)
	}
	return apierrors.IsNotFound(err)
}

func acquire(t *testing.T, ctx context.Context, ns, holder string, d time.Duration) *release.Lock {
	t.Helper()
	l, err := release.Acquire(ctx, cluster.Client, ns, "web", release.LockOptions{Holder: holder, Duration: d})
	if err != nil {
		t.Fatalf("acquire as %s: %v", holder, err)
	}
	return l
}

func TestAcquireAndRelease(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	c, proxy := proxied(t)
	l, err := release.Acquire(ctx, c, ns, "web", release.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := proxy.Breakdown(); got != "POST 1" { // a free lock is one create
		t.Errorf("requests of Acquire: %s, want POST 1", got)
	}
	if !strings.Contains(l.Holder(), "/pid ") {
		t.Errorf("default holder %q, want hostname/pid N", l.Holder())
	}
	lease := getLease(t, ns, "web")
	if got := ptr.Deref(lease.Spec.HolderIdentity, ""); got != l.Holder() {
		t.Errorf("lease holder %q, want %q", got, l.Holder())
	}
	if got := ptr.Deref(lease.Spec.LeaseDurationSeconds, 0); got != 30 {
		t.Errorf("lease duration %ds, want the default 30s", got)
	}
	if lease.Labels["app.kubernetes.io/managed-by"] != "cutover" || lease.Labels["cutover.dev/app"] != "web" {
		t.Errorf("lease labels %v", lease.Labels)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if !leaseGone(t, ns, "web") {
		t.Fatal("lease still there after Release")
	}
	if err := l.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	next := acquire(t, ctx, ns, "bob", 0)
	if got := ptr.Deref(getLease(t, ns, "web").Spec.HolderIdentity, ""); got != "bob" {
		t.Errorf("after re-acquire, lease holder %q, want bob", got)
	}
	_ = next.Release(ctx)
}

func TestSecondAcquirerGetsHeldError(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	first := acquire(t, ctx, ns, "ci-host-12/pid 4242 (jenkins build 17)", 0)
	defer first.Release(ctx)

	_, err := release.Acquire(ctx, cluster.Client, ns, "web", release.LockOptions{Holder: "laptop/pid 1"})
	var held *release.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v, want a *HeldError", err)
	}
	lease := getLease(t, ns, "web")
	want := release.HeldError{
		App:     "web",
		Holder:  "ci-host-12/pid 4242 (jenkins build 17)",
		Since:   lease.Spec.AcquireTime.Time,
		Expires: lease.Spec.RenewTime.Add(30 * time.Second),
	}
	if held.App != want.App || held.Holder != want.Holder || !held.Since.Equal(want.Since) || held.Expires.Before(want.Expires) {
		t.Errorf("HeldError %+v, want %+v (or a later expiry)", *held, want)
	}
	msg := fmt.Sprintf("app web is being deployed by ci-host-12/pid 4242 (jenkins build 17) since %s (lock expires %s unless renewed)",
		held.Since.UTC().Format(time.RFC3339), held.Expires.UTC().Format(time.RFC3339))
	if err.Error() != msg {
		t.Errorf("message\n%s\nwant\n%s", err, msg)
	}
	if got := ptr.Deref(lease.Spec.HolderIdentity, ""); got != want.Holder {
		t.Errorf("lease holder %q after a refused Acquire", got)
	}
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	crashCtx, crash := context.WithCancel(ctx)
	first := acquire(t, crashCtx, ns, "crashed", 2*time.Second)
	crash() // renewal stops, the Lease stays: a crashed run

	var expires time.Time
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, err := release.Acquire(ctx, cluster.Client, ns, "web", release.LockOptions{Holder: "rerun", Duration: 2 * time.Second})
		var held *release.HeldError
		if errors.As(err, &held) && time.Now().Before(deadline) {
			expires = held.Expires
			time.Sleep(time.Until(expires) + 50*time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("take over: %v", err)
		}
		defer l.Release(ctx)
		break
	}
	if expires.IsZero() {
		t.Fatal("the crashed run's lease was taken over before it expired")
	}
	lease := getLease(t, ns, "web")
	if got := ptr.Deref(lease.Spec.HolderIdentity, ""); got != "rerun" {
		t.Errorf("lease holder %q, want rerun", got)
	}
	if lease.Spec.AcquireTime.Before(&metav1.MicroTime{Time: expires}) {
		t.Errorf("taken over at %s, before the expiry %s", lease.Spec.AcquireTime.Time, expires)
	}
	if got := ptr.Deref(lease.Spec.LeaseTransitions, 0); got != 1 {
		t.Errorf("lease transitions %d, want 1", got)
	}
	if closed(first.Lost()) {
		t.Error("cancelling the Acquire context closed Lost")
	}
	assertReleaseLeavesOthersLease(t, first, ns, "rerun")
}

// assertReleaseLeavesOthersLease checks that Release of a lock someone else
// took fails naming them and leaves their Lease.
func assertReleaseLeavesOthersLease(t *testing.T, l *release.Lock, ns, holder string) {
	t.Helper()
	err := l.Release(context.Background())
	var held *release.HeldError
	if !errors.As(err, &held) || held.Holder != holder {
		t.Errorf("Release of a lost lock: %v, want a *HeldError naming %s", err, holder)
	}
	if leaseGone(t, ns, "web") {
		t.Fatalf("Release deleted %s's lease", holder)
	}
	if got := ptr.Deref(getLease(t, ns, "web").Spec.HolderIdentity, ""); got != holder {
		t.Errorf("lease holder %q after Release, want %s", got, holder)
	}
}

func TestRenewalKeepsLockBeyondDuration(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	l := acquire(t, ctx, ns, "long-run", 2*time.Second)
	time.Sleep(5 * time.Second)

	_, err := release.Acquire(ctx, cluster.Client, ns, "web", release.LockOptions{Holder: "other"})
	var held *release.HeldError
	if !errors.As(err, &held) || held.Holder != "long-run" {
		t.Fatalf("Acquire after 2.5 lease durations: %v, want held by long-run", err)
	}
	lease := getLease(t, ns, "web")
	if age := lease.Spec.RenewTime.Sub(lease.Spec.AcquireTime.Time); age < 3*time.Second {
		t.Errorf("lease renewed %s after acquiring, want >= 3s", age)
	}
	if closed(l.Lost()) || l.Err() != nil {
		t.Errorf("lock lost while renewed: %v", l.Err())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if !leaseGone(t, ns, "web") {
		t.Error("lease still there after Release")
	}
}

func TestRacingAcquirersExactlyOneWins(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, ns string)
	}{
		{"no lease", func(*testing.T, string) {}},
		{"expired lease", func(t *testing.T, ns string) {
			old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
			lease := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: "cutover-lock-web"},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity: ptr.To("crashed"), LeaseDurationSeconds: ptr.To[int32](2),
					AcquireTime: &old, RenewTime: &old, LeaseTransitions: ptr.To[int32](3),
				},
			}
			if _, err := cluster.Client.CoordinationV1().Leases(ns).Create(context.Background(), lease, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, ctx := cluster.Namespace(t), testCtx(t)
			tt.setup(t, ns)
			winners, errs := race(ctx, ns, 16)
			if len(winners) != 1 {
				t.Fatalf("%d winners, want 1; errors: %v", len(winners), errs)
			}
			winner := winners[0]
			defer winner.Release(ctx)
			for _, err := range errs {
				var held *release.HeldError
				if !errors.As(err, &held) || held.Holder != winner.Holder() {
					t.Errorf("loser got %v, want a *HeldError naming %s", err, winner.Holder())
				}
			}
			if got := ptr.Deref(getLease(t, ns, "web").Spec.HolderIdentity, ""); got != winner.Holder() {
				t.Errorf("lease holder %q, want the winner %s", got, winner.Holder())
			}
		})
	}
}

// race has n goroutines acquire the lock of web at once.
func race(ctx context.Context, ns string, n int) ([]*release.Lock, []error) {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		winners []*release.Lock
		errs    []error
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			l, err := release.Acquire(ctx, cluster.Client, ns, "web", release.LockOptions{Holder: fmt.Sprintf("racer-%d", i)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			winners = append(winners, l)
		})
	}
	close(start)
	wg.Wait()
	return winners, errs
}

func TestLostWhenLeaseTakenOrDeleted(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, ns string)
		check  func(t *testing.T, l *release.Lock, ns string)
	}{
		{"stolen", func(t *testing.T, ns string) {
			leases := cluster.Client.CoordinationV1().Leases(ns)
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				lease, err := leases.Get(context.Background(), "cutover-lock-web", metav1.GetOptions{})
				if err != nil {
					return err
				}
				lease.Spec.HolderIdentity = ptr.To("thief")
				_, err = leases.Update(context.Background(), lease, metav1.UpdateOptions{})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, l *release.Lock, ns string) {
			var held *release.HeldError
			if !errors.As(l.Err(), &held) || held.Holder != "thief" {
				t.Errorf("Err() = %v, want a *HeldError naming thief", l.Err())
			}
			assertReleaseLeavesOthersLease(t, l, ns, "thief")
		}},
		{"deleted", func(t *testing.T, ns string) {
			err := cluster.Client.CoordinationV1().Leases(ns).Delete(context.Background(), "cutover-lock-web", metav1.DeleteOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, l *release.Lock, ns string) {
			if err := l.Err(); err == nil || !strings.Contains(err.Error(), "deleted") {
				t.Errorf("Err() = %v, want one saying the lease was deleted", err)
			}
			if err := l.Release(context.Background()); err != nil {
				t.Errorf("Release of a deleted lease: %v", err)
			}
			if !leaseGone(t, ns, "web") {
				t.Error("Release left a lease behind")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, ctx := cluster.Namespace(t), testCtx(t)
			l := acquire(t, ctx, ns, "victim", 3*time.Second) // renewed every second
			if l.Err() != nil {
				t.Fatalf("Err() = %v before anything happened", l.Err())
			}
			tt.change(t, ns)
			select {
			case <-l.Lost():
			case <-time.After(5 * time.Second):
				t.Fatal("Lost not closed 5s after the lease changed hands")
			}
			tt.check(t, l, ns)
		})
	}
}

func TestLostWhenAPIServerUnreachable(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	c, proxy := proxied(t)
	var mu sync.Mutex
	var failures []time.Time // lostAt of each failed renewal, as told
	l, err := release.Acquire(ctx, c, ns, "web", release.LockOptions{Holder: "cut-off", Duration: 2 * time.Second,
		RenewFailed: func(_ error, lostAt time.Time) {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, lostAt)
		}})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Close()
	cutAt := time.Now()
	select {
	case <-l.Lost():
	case <-time.After(6 * time.Second):
		t.Fatal("Lost not closed 6s after the API server became unreachable")
	}
	lease := getLease(t, ns, "web")
	expiry := lease.Spec.RenewTime.Add(2 * time.Second)
	if lost := time.Since(cutAt); time.Now().Before(expiry) {
		t.Errorf("Lost closed %s after the cut, before the lease expired at %s", lost, expiry)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) == 0 {
		t.Error("the lock was lost with no failed renewal told first")
	}
	for _, at := range failures {
		if !at.Equal(expiry) {
			t.Errorf("a failed renewal said the lock is lost at %s; the lease expires at %s", at, expiry)
		}
	}
	var held *release.HeldError
	if err := l.Err(); err == nil || errors.As(err, &held) {
		t.Errorf("Err() = %v, want a connection error", err)
	}
}

func TestInvalidAppNameRefused(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	store := release.NewStore(cluster.Client, ns)
	for _, app := range []string{"", "Web", "web_1", "-web", "web.prod", strings.Repeat("a", 64)} {
		t.Run(app, func(t *testing.T) {
			if _, err := release.Acquire(ctx, cluster.Client, ns, app, release.LockOptions{}); err == nil || !strings.Contains(err.Error(), "invalid app name") {
				t.Errorf("Acquire: %v, want an invalid app name error", err)
			}
			if err := store.Create(ctx, &release.Record{App: app}); err == nil || !strings.Contains(err.Error(), "invalid app name") {
				t.Errorf("Create: %v, want an invalid app name error", err)
			}
		})
	}
	leases, err := cluster.Client.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cms, err := cluster.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=cutover"})
	if err != nil {
		t.Fatal(err)
	}
	if len(leases.Items)+len(cms.Items) != 0 {
		t.Errorf("invalid names left %d leases and %d configmaps", len(leases.Items), len(cms.Items))
	}
}
