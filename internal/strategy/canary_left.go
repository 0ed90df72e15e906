package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/route"
)

// LeftCanary is what a canary run that died left serving, from its record.
type LeftCanary struct {
	Namespace  string
	Deployment string // the canary's
	// Route, through a gateway, splits traffic between Pair's Services.
	Route string
	Pair  route.Backends
	// FieldManager writes the route's weights and the canary's replicas.
	FieldManager string
	Sink         event.Sink
	// ScaleDownDelay is how long the canary keeps its pods once the route
	// is confirmed at 100/0 (see CanaryOptions.AbortScaleDownDelay).
	ScaleDownDelay time.Duration
}

// DefaultAbortScaleDownDelay is how long, through a gateway, an aborted
// canary keeps its pods after the route's write is confirmed: gateways run
// an accepted route within their sync period (Traefik: its
// providersThrottleDuration, 2 s by default; 58 to 707 ms seen on the test
// bed, whose throttle is 0, under load), and requests they still send to
// the canary meanwhile should find it serving, not terminating.
const DefaultAbortScaleDownDelay = 5 * time.Second

// drainDelay waits d before the canary's pods go, saying so.
func drainDelay(ctx context.Context, sink event.Sink, canary string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	event.Stamp(sink, event.Event{Type: event.ObjectStatus, Stage: StageAbort, Object: canary, Status: "waiting",
		Message: fmt.Sprintf("scaling down in %s: gateways run an accepted route within their own sync period, and may still send to the canary until then", d)})
	return sleep(ctx, d)
}

// AbortLeft does what the dead run's abort would have: through a gateway
// the route goes to 100/0 in one write, confirmed by its status; then the
// canary's Deployment goes to zero, confirmed once none of its pods is
// ready outside termination (the EndpointSlices drop a terminating pod as
// a ready endpoint).
func AbortLeft(ctx context.Context, c *kube.Clients, l LeftCanary) error {
	sink := l.Sink
	if sink == nil {
		sink = event.Discard
	}
	if l.Route != "" {
		gen, err := routeToStable(ctx, c, l)
		if err != nil {
			return err
		}
		if _, err := route.Wait(ctx, c.Dynamic, l.Namespace, l.Route, gen); err != nil {
			return fmt.Errorf("confirm the weights of httproute %s/%s: %w", l.Namespace, l.Route, err)
		}
		event.Stamp(sink, event.Event{Type: event.Traffic, Stage: StageAbort, Object: "HTTPRoute/" + l.Namespace + "/" + l.Route, Status: "stable",
			Weight:  &event.Weight{},
			Message: fmt.Sprintf("all traffic on stable: HTTPRoute %s sends nothing to %s, accepted by every gateway; %s", l.Route, l.Pair.Canary, gatewayStatus)})
		if err := drainDelay(ctx, sink, "Deployment/"+l.Namespace+"/"+l.Deployment, l.ScaleDownDelay); err != nil {
			return err
		}
	}
	stable := strings.TrimSuffix(l.Deployment, CanarySuffix)
	if restored, err := restoreLeftStable(ctx, c, l.Namespace, stable, l.FieldManager); err != nil {
		return err
	} else if restored {
		event.Stamp(sink, event.Event{Type: event.ObjectApplied, Stage: StageAbort, Object: "Deployment/" + l.Namespace + "/" + stable,
			Action: "scaled back to full (a dynamic stable scale had scaled it down), its pods ready"})
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"replicas": 0}})
	d, err := c.Typed.AppsV1().Deployments(l.Namespace).Patch(ctx, l.Deployment, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: l.FieldManager})
	if err != nil {
		return fmt.Errorf("scale deployment %s/%s to 0: %w", l.Namespace, l.Deployment, err)
	}
	event.Stamp(sink, event.Event{Type: event.ObjectApplied, Stage: StageAbort, Object: "Deployment/" + l.Namespace + "/" + l.Deployment, Action: "scaled to 0"})
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("deployment %s/%s: %w", l.Namespace, l.Deployment, err)
	}
	return readiness.WaitPods(ctx, c, l.Namespace, sel, func(pods []*corev1.Pod) bool {
		for _, p := range pods {
			if p.DeletionTimestamp == nil && readiness.PodReady(p) {
				return false
			}
		}
		return true
	})
}

// routeToStable writes the live route's weights to 100/0 and returns the
// generation written.
func routeToStable(ctx context.Context, c *kube.Clients, l LeftCanary) (int64, error) {
	r := c.Dynamic.Resource(route.HTTPRoutes).Namespace(l.Namespace)
	var gen int64
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := r.Get(ctx, l.Route, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n, err := route.Split(u, l.Pair, 0); err != nil || n == 0 {
			return fmt.Errorf("no rule sends to %s and %s (%v)", l.Pair.Stable, l.Pair.Canary, err)
		}
		out, err := r.Update(ctx, u, metav1.UpdateOptions{FieldManager: l.FieldManager})
		if err == nil {
			gen = out.GetGeneration()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("set the weights of httproute %s/%s to 100/0: %w", l.Namespace, l.Route, err)
	}
	return gen, nil
}
