package rollback

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/client-go/kubernetes"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

// Revision is one ReplicaSet of a Deployment's history.
type Revision struct {
	Number     int64
	ReplicaSet *appsv1.ReplicaSet
}

// History returns the Deployment and its revisions, oldest first.
func History(ctx context.Context, c kubernetes.Interface, ns, name string) (*appsv1.Deployment, []Revision, error) {
	d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("get deployment %s/%s: %w", ns, name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, nil, fmt.Errorf("deployment %s/%s selector: %w", ns, name, err)
	}
	sets, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, nil, fmt.Errorf("list replicasets of %s/%s: %w", ns, name, err)
	}
	var revs []Revision
	for i := range sets.Items {
		rs := &sets.Items[i]
		if !metav1.IsControlledBy(rs, d) {
			continue
		}
		if n, err := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64); err == nil {
			revs = append(revs, Revision{Number: n, ReplicaSet: rs})
		}
	}
	sortRevisions(revs)
	return d, revs, nil
}

func sortRevisions(revs []Revision) {
	for i := 1; i < len(revs); i++ {
		for j := i; j > 0 && revs[j].Number < revs[j-1].Number; j-- {
			revs[j], revs[j-1] = revs[j-1], revs[j]
		}
	}
}

// Target picks the revision to go back to: to, or the one before the
// current when to is 0.
func Target(d *appsv1.Deployment, revs []Revision, to int64) (Revision, error) {
	current, _ := strconv.ParseInt(d.Annotations[revisionAnnotation], 10, 64)
	if to == current && to != 0 {
		return Revision{}, fmt.Errorf("revision %d is the current one", to)
	}
	var pick *Revision
	for i := range revs {
		r := revs[i]
		if (to != 0 && r.Number == to) || (to == 0 && r.Number < current) {
			pick = &r
		}
	}
	if pick == nil {
		if to != 0 {
			return Revision{}, fmt.Errorf("no revision %d in the history of %s", to, d.Name)
		}
		return Revision{}, fmt.Errorf("%s has no revision before %d", d.Name, current)
	}
	return *pick, nil
}

// ManualPlan builds the restoring configuration for `cutover rollback`: the
// fields fieldManager owns now, with the target revision's pod template, so
// that no field cutover owns is dropped.
func ManualPlan(d *appsv1.Deployment, target Revision, fieldManager string) (Plan, error) {
	owned, err := appsv1ac.ExtractDeployment(d, fieldManager)
	if err != nil {
		return Plan{}, fmt.Errorf("extract the fields %s owns in %s: %w", fieldManager, d.Name, err)
	}
	b, err := json.Marshal(owned)
	if err != nil {
		return Plan{}, err
	}
	applied := &unstructured.Unstructured{}
	if err := applied.UnmarshalJSON(b); err != nil {
		return Plan{}, err
	}
	applied.SetAPIVersion("apps/v1")
	applied.SetKind("Deployment")
	before, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&appsv1.Deployment{
		Spec: appsv1.DeploymentSpec{Template: target.ReplicaSet.Spec.Template},
	})
	if err != nil {
		return Plan{}, err
	}
	unstructured.RemoveNestedField(before, "spec", "replicas")
	return Plan{Ref: fmt.Sprintf("Deployment/%s/%s", d.Namespace, d.Name), Applied: applied,
		Before: &unstructured.Unstructured{Object: before}}, nil
}
