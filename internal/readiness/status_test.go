package readiness

import (
	"testing"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func deployment(status map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "ns", "generation": int64(2)},
		"spec":     map[string]any{"replicas": int64(3), "progressDeadlineSeconds": int64(600)},
		"status":   status,
	}}
}

func complete(extra map[string]any) map[string]any {
	s := map[string]any{
		"observedGeneration": int64(2), "replicas": int64(3), "updatedReplicas": int64(3),
		"readyReplicas": int64(3), "availableReplicas": int64(3),
		"conditions": []any{
			map[string]any{"type": "Available", "status": "True"},
			map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
		},
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

func TestCompute(t *testing.T) {
	cases := []struct {
		name   string
		status map[string]any
		want   status.Status
		old    int64
	}{
		{"complete", complete(nil), status.CurrentStatus, 0},
		{"generation not observed", complete(map[string]any{"observedGeneration": int64(1)}), status.InProgressStatus, 0},
		{"old replicas left", complete(map[string]any{"replicas": int64(4)}), status.InProgressStatus, 1},
		{"old pods still terminating", complete(map[string]any{"terminatingReplicas": int64(2)}), status.InProgressStatus, 2},
		{"not all available", complete(map[string]any{"availableReplicas": int64(2)}), status.InProgressStatus, 0},
		{"deadline exceeded", complete(map[string]any{"conditions": []any{
			map[string]any{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
		}}), status.FailedStatus, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := compute(deployment(tc.status), false)
			if st.Status != tc.want {
				t.Errorf("status %s (%s), want %s", st.Status, st.Message, tc.want)
			}
			if st.Counts == nil || st.Counts.Old != tc.old || st.Counts.Desired != 3 {
				t.Errorf("counts %+v, want old=%d desired=3", st.Counts, tc.old)
			}
		})
	}
}

func TestPodProblem(t *testing.T) {
	waiting := func(reason string, restarts int32) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}},
		}}}}
	}
	unschedulable := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available",
	}}}}
	terminating := waiting("CrashLoopBackOff", 3)
	terminating.DeletionTimestamp = &metav1.Time{}
	cases := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"crash loop", waiting("CrashLoopBackOff", 4), "container app: CrashLoopBackOff (4 restarts)"},
		{"image pull", waiting("ImagePullBackOff", 0), "container app: ImagePullBackOff"},
		{"err image pull", waiting("ErrImagePull", 0), "container app: ErrImagePull"},
		{"creating is fine", waiting("ContainerCreating", 0), ""},
		{"unschedulable", unschedulable, "Unschedulable: 0/3 nodes are available"},
		{"terminating pods are not judged", terminating, ""},
		{"healthy", &corev1.Pod{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := podProblem(tc.pod); got != tc.want {
				t.Errorf("podProblem = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDeploymentProblemWaitsForTheController(t *testing.T) {
	isController := true
	d := deployment(complete(map[string]any{"observedGeneration": int64(2)}))
	d.SetUID("dep-uid")
	d.SetAnnotations(map[string]string{"deployment.kubernetes.io/revision": "2"})
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-new", UID: "rs-uid",
		Annotations:     map[string]string{"deployment.kubernetes.io/revision": "2"},
		OwnerReferences: []metav1.OwnerReference{{UID: "dep-uid", Controller: &isController}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-new-abc",
		OwnerReferences: []metav1.OwnerReference{{UID: "rs-uid", Controller: &isController}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}}}
	if got := deploymentProblem(d, []*appsv1.ReplicaSet{rs}, []*corev1.Pod{pod}); got != "pod web-new-abc: container app: ImagePullBackOff" {
		t.Errorf("problem = %q", got)
	}
	// Right after a rollback the generation is ahead of the controller: the
	// revision still names the ReplicaSet being replaced, whose pods are
	// expected to be broken.
	d.SetGeneration(3)
	if got := deploymentProblem(d, []*appsv1.ReplicaSet{rs}, []*corev1.Pod{pod}); got != "" {
		t.Errorf("judged pods before the controller observed the generation: %q", got)
	}
}

func TestStaleProgressDeadline(t *testing.T) {
	exceeded := func(updated string) map[string]any {
		return complete(map[string]any{"availableReplicas": int64(2), "conditions": []any{
			map[string]any{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "lastUpdateTime": updated},
		}})
	}
	written := func(u *unstructured.Unstructured, manager, at, sub string) *unstructured.Unstructured {
		f := map[string]any{"manager": manager, "operation": "Apply", "time": at}
		if sub != "" {
			f["subresource"] = sub
		}
		mf, _, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
		_ = unstructured.SetNestedSlice(u.Object, append(mf, f), "metadata", "managedFields")
		return u
	}
	cases := []struct {
		name string
		u    *unstructured.Unstructured
		want status.Status
	}{
		{"deadline exceeded before cutover's write: stale", written(deployment(exceeded("2026-01-01T10:00:00Z")), "cutover", "2026-01-01T10:05:00Z", ""),
			status.InProgressStatus},
		{"deadline exceeded in the second of the write: stale", written(deployment(exceeded("2026-01-01T10:05:00Z")), "cutover", "2026-01-01T10:05:00Z", ""),
			status.InProgressStatus},
		{"deadline exceeded after the write: failed", written(deployment(exceeded("2026-01-01T10:15:00Z")), "cutover", "2026-01-01T10:05:00Z", ""),
			status.FailedStatus},
		{"only controller and status writes: failed", written(written(deployment(exceeded("2026-01-01T10:00:00Z")),
			"kube-controller-manager", "2026-01-01T10:20:00Z", ""), "cutover", "2026-01-01T10:20:00Z", "status"), status.FailedStatus},
		{"no managed fields: failed", deployment(exceeded("2026-01-01T10:00:00Z")), status.FailedStatus},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if st := compute(tc.u, false); st.Status != tc.want {
				t.Errorf("status %s (%s), want %s", st.Status, st.Message, tc.want)
			}
		})
	}
}

func TestIgnoreTerminating(t *testing.T) {
	u := deployment(complete(map[string]any{"terminatingReplicas": int64(2)}))
	if st := compute(u, true); st.Status != status.CurrentStatus {
		t.Errorf("idle color with terminating old pods: %s, want Current", st.Status)
	}
	if st := compute(deployment(complete(map[string]any{"availableReplicas": int64(2), "terminatingReplicas": int64(2)})), true); st.Status != status.InProgressStatus {
		t.Errorf("not all new pods available: %s, want InProgress", st.Status)
	}
}
