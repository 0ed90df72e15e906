package kube

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// ListWatch lists and watches one resource through the dynamic client, in
// namespace ns ("" for cluster-scoped or all) and narrowed by a field
// selector (may be empty), for informers and watchtools.
func (c *Clients) ListWatch(gvr schema.GroupVersionResource, ns, fieldSelector string) *cache.ListWatch {
	client := c.Dynamic.Resource(gvr).Namespace(ns)
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = fieldSelector
			return client.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = fieldSelector
			return client.Watch(ctx, o)
		},
	}
}
