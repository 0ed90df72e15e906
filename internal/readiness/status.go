// Package readiness watches applied objects until they are really done,
// using kstatus (github.com/fluxcd/cli-utils, as Helm 4 does) for every kind,
// plus two rules of its own where kstatus is silent:
//
//   - a Deployment is not done while it still has terminating pods
//     (status.terminatingReplicas): old pods hold connections until gone;
//   - a Deployment fails at once, naming the pod, when a pod of its new
//     ReplicaSet crash-loops, cannot pull its image, cannot start its
//     container or cannot be scheduled, instead of waiting for the progress
//     deadline.
package readiness

import (
	"fmt"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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

// compute returns the readiness of a live object.
func compute(u *unstructured.Unstructured) state {
	res, err := status.Compute(u)
	if err != nil {
		return state{Status: status.UnknownStatus, Message: err.Error()}
	}
	st := state{Status: res.Status, Message: res.Message}
	if u.GetKind() == "Deployment" {
		st.Counts = deploymentCounts(u)
		if n, _, _ := unstructured.NestedInt64(u.Object, "status", "terminatingReplicas"); n > 0 && st.Status == status.CurrentStatus {
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
