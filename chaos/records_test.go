package chaos

import (
	"context"
	"slices"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/release"
)

// assertRecorded checks what the scenario's runs left of the app's lock
// and records, rolling updates and blue/green alike: a run killed at any
// moment and rerun leaves no record running (the rerun closes it as
// interrupted) and no lock behind, and the final run's record tells its
// outcome.
func assertRecorded(ctx context.Context, t *testing.T, b *bed, final *run) {
	t.Helper()
	name := b.s.appName()
	lease, err := cluster.Client.CoordinationV1().Leases(b.ns).Get(ctx, "cutover-lock-"+name, metav1.GetOptions{})
	switch {
	case b.s.Fault == LockOtherHost && err != nil:
		t.Errorf("the other host's lock of %s is gone: %v", name, err)
	case b.s.Fault != LockOtherHost && err == nil:
		t.Errorf("the lock of %s was left behind, held by %q", name, *lease.Spec.HolderIdentity)
	case b.s.Fault != LockOtherHost && !apierrors.IsNotFound(err):
		t.Errorf("read the lock of %s: %v", name, err)
	}
	recs, err := release.NewStore(cluster.Client, b.ns).List(ctx, name)
	if err != nil || len(recs) == 0 {
		t.Errorf("the records of %s: %d (%v), want release 7's and more", name, len(recs), err)
		return
	}
	for _, r := range recs {
		if r.Outcome == release.OutcomeRunning {
			t.Errorf("revision %d of %s is left running (its run ended)", r.Revision, name)
		}
	}
	latest := recs[0]
	want := map[int]string{exitOK: release.OutcomeSucceeded, exitRolledBack: release.OutcomeRolledBack}[final.exit]
	if want != "" && latest.Outcome != want {
		t.Errorf("the final run exited %d; its record, revision %d, says %s, want %s", final.exit, latest.Revision, latest.Outcome, want)
	}
	if final.exit == exitOK && !slices.Contains(latest.Images, "tomcat:8") {
		t.Errorf("the final run deployed tomcat:8; its record names %v", latest.Images)
	}
}
