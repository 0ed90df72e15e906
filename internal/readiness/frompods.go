package readiness

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cutover/cutover/internal/event"
)

// podTemplateHashLabel is the label the Deployment controller adds to the
// pod template of each ReplicaSet it creates.
const podTemplateHashLabel = "pod-template-hash"

// doneFromPods reports whether a Deployment's pods already show it done,
// before the controllers have written the ReplicaSet's and then the
// Deployment's status (two API writes and two watch hops later): exactly
// spec.replicas pods of the ReplicaSet that carries the Deployment's
// current pod template, all Ready, and no pod of its other ReplicaSets
// left that is not terminating (one template). Terminating pods are
// ignored, so this is only for a color that serves no one yet.
//
// It declines where pods alone cannot tell: a paused Deployment, one with
// minReadySeconds (availability takes time the pods do not show), zero
// replicas, or a template no ReplicaSet carries yet.
func doneFromPods(u *unstructured.Unstructured, sets []*appsv1.ReplicaSet, pods []*corev1.Pod) (*event.Counts, bool) {
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
		return nil, false
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if d.Spec.Paused || d.Spec.MinReadySeconds > 0 || replicas == 0 {
		return nil, false
	}
	current := templateReplicaSet(&d, sets)
	if current == nil {
		return nil, false
	}
	c := &event.Counts{Desired: int64(replicas)}
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil:
			if ownedByAny(p, sets, &d) {
				c.Old++
			}
		case ownedBy(p.OwnerReferences, current.UID):
			if !PodReady(p) {
				return nil, false
			}
			c.Updated++
		case ownedByAny(p, sets, &d):
			return nil, false // a pod of another template still runs
		}
	}
	c.Ready, c.Available = c.Updated, c.Updated
	return c, c.Updated == int64(replicas)
}

// templateReplicaSet is the ReplicaSet of d whose pod template is d's, as
// the Deployment controller finds it: equal apart from the hash label.
// With none, or more than one, it returns nil.
func templateReplicaSet(d *appsv1.Deployment, sets []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	var found *appsv1.ReplicaSet
	for _, rs := range sets {
		if !ownedBy(rs.OwnerReferences, d.UID) || !equalIgnoringHash(&rs.Spec.Template, &d.Spec.Template) {
			continue
		}
		if found != nil {
			return nil
		}
		found = rs
	}
	return found
}

func equalIgnoringHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, podTemplateHashLabel)
	delete(b.Labels, podTemplateHashLabel)
	return equality.Semantic.DeepEqual(a, b)
}

// ownedByAny reports whether p belongs to one of d's ReplicaSets.
func ownedByAny(p *corev1.Pod, sets []*appsv1.ReplicaSet, d *appsv1.Deployment) bool {
	for _, rs := range sets {
		if ownedBy(rs.OwnerReferences, d.UID) && ownedBy(p.OwnerReferences, rs.UID) {
			return true
		}
	}
	return false
}

// fromPodsMessage says why a Deployment was judged done from its pods.
func fromPodsMessage(c *event.Counts) string {
	return fmt.Sprintf("%d of %d pods of the new template ready, seen on the pods (the Deployment's status follows)", c.Updated, c.Desired)
}
