package testbed

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// nodeAnnotation marks the nodes kwok manages.
const nodeAnnotation = "kwok.x-k8s.io/node"

func (c *Cluster) registerNodes(ctx context.Context, n int) error {
	for i := range n {
		name := fmt.Sprintf("testbed-node-%d", i)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{nodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok",
			},
		}}
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	lw := cache.NewListWatchFromClient(c.Client.CoreV1().RESTClient(), "nodes", "", fields.Everything())
	return waitStore(ctx, lw, &corev1.Node{}, func(store cache.Store) bool {
		ready := 0
		for _, o := range store.List() {
			if schedulable(o.(*corev1.Node)) {
				ready++
			}
		}
		return ready >= n
	})
}

// schedulable reports a Ready node without NoSchedule taints (the node
// lifecycle controller taints new nodes until it sees them Ready).
func schedulable(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitServiceAccount waits for the controller manager to create the default
// ServiceAccount in ns; pods are refused until it exists.
func (c *Cluster) waitServiceAccount(ctx context.Context, ns string) error {
	lw := cache.NewListWatchFromClient(c.Client.CoreV1().RESTClient(), "serviceaccounts", ns,
		fields.OneTermEqualSelector("metadata.name", "default"))
	return waitStore(ctx, lw, &corev1.ServiceAccount{}, func(store cache.Store) bool {
		return len(store.List()) > 0
	})
}

// waitStore watches lw until done holds for the informer's store, or a
// minute passes.
func waitStore(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, done func(cache.Store) bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var store cache.Store
	_, err := watchtools.UntilWithSync(ctx, lw, obj,
		func(s cache.Store) (bool, error) { store = s; return done(s), nil },
		func(watch.Event) (bool, error) { return done(store), nil })
	return err
}
