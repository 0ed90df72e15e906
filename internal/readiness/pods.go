package readiness

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// fatalWaiting are container waiting reasons that do not heal by waiting.
var fatalWaiting = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// podProblem returns why a pod cannot become ready, or "".
func podProblem(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return ""
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return fmt.Sprintf("Unschedulable: %s", c.Message)
		}
	}
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil && fatalWaiting[w.Reason] {
			msg := fmt.Sprintf("container %s: %s", cs.Name, w.Reason)
			if cs.RestartCount > 0 {
				msg += fmt.Sprintf(" (%d restarts)", cs.RestartCount)
			}
			if w.Message != "" {
				msg += ": " + w.Message
			}
			return msg
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		return fmt.Sprintf("pod failed: %s %s", p.Status.Reason, p.Status.Message)
	}
	return ""
}

// newReplicaSet finds the ReplicaSet of a Deployment's current revision.
func newReplicaSet(d *unstructured.Unstructured, sets []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	rev := d.GetAnnotations()["deployment.kubernetes.io/revision"]
	if rev == "" {
		return nil
	}
	for _, rs := range sets {
		if ownedBy(rs.OwnerReferences, d.GetUID()) && rs.Annotations["deployment.kubernetes.io/revision"] == rev {
			return rs
		}
	}
	return nil
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

// deploymentProblem returns the first problem of a pod of d's new ReplicaSet,
// naming the pod, or "".
//
// Until the controller has observed d's generation, d's revision may still
// name the ReplicaSet being replaced (right after a rollback, say), so no pod
// is judged.
func deploymentProblem(d *unstructured.Unstructured, sets []*appsv1.ReplicaSet, pods []*corev1.Pod) string {
	if observed, _, _ := unstructured.NestedInt64(d.Object, "status", "observedGeneration"); observed < d.GetGeneration() {
		return ""
	}
	rs := newReplicaSet(d, sets)
	if rs == nil {
		return ""
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		if !ownedBy(p.OwnerReferences, rs.UID) {
			continue
		}
		if msg := podProblem(p); msg != "" {
			return fmt.Sprintf("pod %s: %s", p.Name, msg)
		}
	}
	return ""
}

func asObjects[T runtime.Object](items []any) []T {
	out := make([]T, 0, len(items))
	for _, o := range items {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// notReadyPods names the pods of d's new ReplicaSet that are not ready.
func notReadyPods(d *unstructured.Unstructured, sets []*appsv1.ReplicaSet, pods []*corev1.Pod) []string {
	rs := newReplicaSet(d, sets)
	if rs == nil {
		return nil
	}
	var out []string
	for _, p := range pods {
		if !ownedBy(p.OwnerReferences, rs.UID) || p.DeletionTimestamp != nil || PodReady(p) {
			continue
		}
		out = append(out, fmt.Sprintf("%s (%s, not ready)", p.Name, p.Status.Phase))
	}
	sort.Strings(out)
	return out
}

// PodReady reports whether p's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
