// Package readiness watches applied objects until they are really done,
// using kstatus (github.com/fluxcd/cli-utils, as Helm 4 does) for every kind,
// plus rules of its own where kstatus is silent:
//
//   - a Deployment is not done while it still has terminating pods
//     (status.terminatingReplicas): old pods hold connections until gone;
//   - a Deployment's ProgressDeadlineExceeded condition older than the last
//     write of its spec is stale: the controller keeps it until the new
//     revision makes progress (after a rollback to an existing ReplicaSet, a
//     fix of a broken release), so it does not fail the wait;
//   - a Deployment fails at once, naming the pod, when a pod of its new
//     ReplicaSet crash-loops, cannot pull its image, cannot start its
//     container or cannot be scheduled, instead of waiting for the progress
//     deadline.
package readiness

import (
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cutover/cutover/internal/event"
)

// state is the computed readiness of one object.
type state struct {
	Status  status.Status
	Message string
	Counts  *event.Counts
}

func (s state) equal(o state) bool {
	if s.Status != o.Status || s.Message != o.Message || (s.Counts == nil) != (o.Counts == nil) {
		return false
	}
	return s.Counts == nil || *s.Counts == *o.Counts
}

// compute returns the readiness of a live object. With ignoreTerminating,
// a Deployment's terminating pods do not hold it back (see
// Options.IgnoreTerminating).
func compute(u *unstructured.Unstructured, ignoreTerminating bool) state {
	res, err := status.Compute(u)
	if err != nil {
		return state{Status: status.UnknownStatus, Message: err.Error()}
	}
	st := state{Status: res.Status, Message: res.Message}
	if u.GetKind() == "Deployment" && st.Status == status.FailedStatus && staleDeadline(u) {
		st.Status = status.InProgressStatus
		st.Message = "waiting for the new revision to progress (a progress deadline exceeded before this change)"
	}
	if u.GetKind() == "Deployment" {
		st.Counts = deploymentCounts(u)
		if n, _, _ := unstructured.NestedInt64(u.Object, "status", "terminatingReplicas"); n > 0 && st.Status == status.CurrentStatus && !ignoreTerminating {
			st.Status = status.InProgressStatus
			st.Message = fmt.Sprintf("Terminating: %d old pods", n)
		}
	}
	return st
}

func deploymentCounts(u *unstructured.Unstructured) *event.Counts {
	get := func(f ...string) int64 { n, _, _ := unstructured.NestedInt64(u.Object, f...); return n }
	desired, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		desired = 1
	}
	replicas, updated := get("status", "replicas"), get("status", "updatedReplicas")
	return &event.Counts{
		Desired:   desired,
		Updated:   updated,
		Ready:     get("status", "readyReplicas"),
		Available: get("status", "availableReplicas"),
		Old:       max(replicas-updated, 0) + get("status", "terminatingReplicas"),
	}
}

// staleDeadline reports a ProgressDeadlineExceeded condition last updated
// no later than the last write of the Deployment's spec (both times are the
// API server's, so clocks do not matter).
func staleDeadline(u *unstructured.Unstructured) bool {
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
		return false
	}
	written := lastSpecWrite(d.ManagedFields)
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return !written.IsZero() && !c.LastUpdateTime.After(written)
		}
	}
	return false
}

// lastSpecWrite is the time of the newest write to the object itself (not
// its status) by a client other than the controllers.
func lastSpecWrite(fields []metav1.ManagedFieldsEntry) time.Time {
	var t time.Time
	for _, f := range fields {
		if f.Subresource != "" || f.Time == nil || f.Manager == "kube-controller-manager" {
			continue
		}
		if f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t
}
