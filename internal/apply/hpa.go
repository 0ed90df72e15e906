package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/event"
)

// scaledBy maps a Deployment's name to the HorizontalPodAutoscaler that
// scales it.
type scaledBy map[string]string

// autoscalers finds the HPAs of the namespace, in the cluster and among
// the items, that scale Deployments. It lists only when the items hold a
// Deployment.
func (a *Applier) autoscalers(ctx context.Context, ns string, items []*Item) (scaledBy, error) {
	out := scaledBy{}
	hasDeployment := false
	for _, it := range items {
		hasDeployment = hasDeployment || (it.Kind() == "Deployment" && it.Namespace == ns)
		if it.Kind() == "HorizontalPodAutoscaler" && it.Namespace == ns {
			kind, _, _ := unstructured.NestedString(it.Object.Object, "spec", "scaleTargetRef", "kind")
			name, _, _ := unstructured.NestedString(it.Object.Object, "spec", "scaleTargetRef", "name")
			if kind == "Deployment" {
				out[name] = it.Name()
			}
		}
	}
	if !hasDeployment || a.c.Typed == nil {
		return out, nil
	}
	list, err := a.c.Typed.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%w: list horizontalpodautoscalers in %s (cutover keeps the replicas an autoscaler set): %w", ErrForbidden, ns, err)
	case err != nil:
		return nil, fmt.Errorf("list horizontalpodautoscalers in %s: %w", ns, err)
	}
	for _, h := range list.Items {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" {
			out[h.Spec.ScaleTargetRef.Name] = h.Name
		}
	}
	return out, nil
}

// keepScaledReplicas sets spec.replicas of every Deployment an HPA scales
// to the live count, so that a release does not undo the autoscaler: of
// the Deployment itself, or of the one Options.ReplicasFrom names (the
// active color of blue/green, whose load the new color takes). A
// Deployment with no live source keeps the files' count.
func (a *Applier) keepScaledReplicas(ctx context.Context, ns string, items []*Item) error {
	hpas, err := a.autoscalers(ctx, ns, items)
	if err != nil || len(hpas) == 0 {
		return err
	}
	for _, it := range items {
		if it.Kind() != "Deployment" || it.Namespace != ns {
			continue
		}
		source := it.Name()
		if a.opts.ReplicasFrom != nil {
			if s := a.opts.ReplicasFrom(it.Name()); s != "" {
				source = s
			}
		}
		hpa := hpas[it.Name()]
		if hpa == "" {
			hpa = hpas[source]
		}
		if hpa == "" {
			continue
		}
		if err := a.takeReplicas(ctx, it, source, hpa); err != nil {
			return err
		}
	}
	return nil
}

func (a *Applier) takeReplicas(ctx context.Context, it *Item, source, hpa string) error {
	live, err := a.c.Typed.AppsV1().Deployments(it.Namespace).Get(ctx, source, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get deployment %s/%s: %w", it.Namespace, source, err)
	}
	n := int64(1)
	if live.Spec.Replicas != nil {
		n = int64(*live.Spec.Replicas)
	}
	files, found, _ := unstructured.NestedInt64(it.Object.Object, "spec", "replicas")
	if found && files == n {
		return nil
	}
	if err := unstructured.SetNestedField(it.Object.Object, n, "spec", "replicas"); err != nil {
		return fmt.Errorf("%s: set spec.replicas: %w", it.Ref(), err)
	}
	said := "none"
	if found {
		said = fmt.Sprint(files)
	}
	event.Stamp(a.opts.Sink, event.Event{Type: event.Warning, Stage: a.opts.Stage, Object: it.Ref(), Status: "autoscaled",
		Message: fmt.Sprintf("spec.replicas %d, as Deployment %s runs now, not the files' %s: HorizontalPodAutoscaler %s scales it",
			n, source, said, hpa)})
	return nil
}
