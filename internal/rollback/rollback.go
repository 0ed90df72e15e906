// Package rollback restores Deployments to the revision they ran before a
// failed release: `kubectl rollout undo` semantics (the pod template of the
// previous ReplicaSet), written with server-side apply under cutover's field
// manager so that the next deploy owns the same fields and does not conflict.
package rollback

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// ErrNoPrevious means the Deployment did not exist before this release.
var ErrNoPrevious = errors.New("no previous revision: the deployment was created by this release")

// Plan restores one Deployment.
type Plan struct {
	Ref string
	// Applied is the configuration this release applied.
	Applied *unstructured.Unstructured
	// Before is the live Deployment before this release; nil if it was new.
	Before *unstructured.Unstructured
}

// Config returns the configuration to apply to restore p: the applied
// configuration with the previous pod template and replica count, so that
// cutover keeps owning exactly the fields it owned.
func (p Plan) Config() (*unstructured.Unstructured, error) {
	if p.Before == nil {
		return nil, ErrNoPrevious
	}
	cfg := p.Applied.DeepCopy()
	tmpl, found, err := unstructured.NestedMap(p.Before.Object, "spec", "template")
	if err != nil || !found {
		return nil, fmt.Errorf("previous pod template of %s: not found (%v)", p.Ref, err)
	}
	unstructured.RemoveNestedField(tmpl, "metadata", "labels", "pod-template-hash")
	if err := unstructured.SetNestedMap(cfg.Object, tmpl, "spec", "template"); err != nil {
		return nil, err
	}
	if _, has, _ := unstructured.NestedFieldNoCopy(cfg.Object, "spec", "replicas"); has {
		if n, ok, _ := unstructured.NestedInt64(p.Before.Object, "spec", "replicas"); ok {
			_ = unstructured.SetNestedField(cfg.Object, n, "spec", "replicas")
		}
	}
	for _, f := range [][]string{{"status"}, {"metadata", "managedFields"}, {"metadata", "resourceVersion"},
		{"metadata", "uid"}, {"metadata", "creationTimestamp"}, {"metadata", "generation"}} {
		unstructured.RemoveNestedField(cfg.Object, f...)
	}
	return cfg, nil
}

// Apply writes p's restoring configuration, taking over any field another
// manager changed in between.
func Apply(ctx context.Context, r dynamic.ResourceInterface, fieldManager string, p Plan) error {
	cfg, err := p.Config()
	if err != nil {
		return err
	}
	body, err := cfg.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode rollback of %s: %w", p.Ref, err)
	}
	force := true
	if _, err := r.Patch(ctx, cfg.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
		FieldManager: fieldManager, Force: &force,
	}); err != nil {
		return fmt.Errorf("roll back %s: %w", p.Ref, err)
	}
	return nil
}
