package drift

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/kube"
)

// ServiceState is one read of a Service, its EndpointSlices and the pods
// of its namespace.
type ServiceState struct {
	Service  *corev1.Service
	Slices   []*discoveryv1.EndpointSlice
	Pods     []*corev1.Pod
	slicesRV string // of the slice list: where a watch for the next change starts
}

// Inspect compares the state's endpoints with its pods.
func (s *ServiceState) Inspect() Report { return Inspect(s.Service, s.Slices, s.Pods) }

// ReadService reads the Service name, its EndpointSlices and the pods of
// namespace ns.
func ReadService(ctx context.Context, c *kube.Clients, ns, name string) (*ServiceState, error) {
	svc, err := c.Typed.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read service %s/%s: %w", ns, name, err)
	}
	slices, err := c.Typed.DiscoveryV1().EndpointSlices(ns).List(ctx, sliceSelector(name))
	if err != nil {
		return nil, fmt.Errorf("list endpointslices of service %s/%s: %w", ns, name, err)
	}
	pods, err := c.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods of namespace %s: %w", ns, err)
	}
	return &ServiceState{Service: svc, Slices: pointers(slices.Items), Pods: pointers(pods.Items),
		slicesRV: slices.ResourceVersion}, nil
}

func sliceSelector(service string) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service}
}

func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// AwaitAgreement reads the Service again after every change of its
// EndpointSlices until the endpoints agree with the pods or timeout
// passes, and returns the last read. Reads use ctx, not the timeout, so
// that one last read follows the timeout.
func AwaitAgreement(ctx context.Context, c *kube.Clients, ns, name string, timeout time.Duration) (*ServiceState, error) {
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		st, err := ReadService(ctx, c, ns, name)
		if err != nil {
			return nil, err
		}
		if len(Compare(st.Service, st.Slices, st.Pods)) == 0 || wait.Err() != nil {
			return st, nil
		}
		if err := nextSliceChange(wait, c, ns, name, st.slicesRV); err != nil && wait.Err() == nil {
			return nil, err
		}
	}
}

// nextSliceChange returns at the first change of the Service's
// EndpointSlices after resource version rv, or when its watch ends.
func nextSliceChange(ctx context.Context, c *kube.Clients, ns, name, rv string) error {
	opts := sliceSelector(name)
	opts.ResourceVersion = rv
	w, err := c.Typed.DiscoveryV1().EndpointSlices(ns).Watch(ctx, opts)
	if err != nil {
		return fmt.Errorf("watch endpointslices of service %s/%s: %w", ns, name, err)
	}
	defer w.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.ResultChan(): // a change, an error, or the end of the watch: read again
		return nil
	}
}
