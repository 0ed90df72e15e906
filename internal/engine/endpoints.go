package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/strategy"
)

// EndpointsRequest asks how a Service's EndpointSlices agree with the pods
// it selects and, with Resync, nudges the EndpointSlice controller and
// waits up to Timeout for them to agree.
type EndpointsRequest struct {
	Service string
	Resync  bool
	Timeout time.Duration
	// Before, if set, receives the report read before the resync; Resynced
	// is called once the resync is written.
	Before   func(EndpointsReport)
	Resynced func()
}

// EndpointsReport is what Endpoints found.
type EndpointsReport struct {
	Service        string            `json:"service"`
	Namespace      string            `json:"namespace"`
	ReadyEndpoints int               `json:"readyEndpoints"`
	ReadyPods      int               `json:"readyPods"`
	Disagreements  []PodDisagreement `json:"disagreements"`
	Resynced       bool              `json:"resynced"`
	AgreedAfterMs  *int64            `json:"agreedAfterMs"` // null unless a resync was followed by agreement
	NoSelector     bool              `json:"noSelector,omitempty"`
	// Drift is Disagreements as the drift package describes them.
	Drift []drift.Disagreement `json:"-"`
}

// PodDisagreement is one pod where the endpoints and the pods disagree.
type PodDisagreement struct {
	Pod    string `json:"pod"`
	Reason string `json:"reason"`
}

// Endpoints reports the drift of a Service's endpoints. Its error wraps
// strategy.ErrRefused when nothing was changed because the Service could
// not be read or the resync was refused. The endpoints disagree (after the
// resync, if any) when the report has Drift: its error then says so.
func Endpoints(ctx context.Context, c *kube.Clients, req EndpointsRequest) (EndpointsReport, error) {
	ns := c.Namespace
	st, err := drift.ReadService(ctx, c, ns, req.Service)
	if err != nil {
		return EndpointsReport{}, fmt.Errorf("%w: %w", strategy.ErrRefused, err)
	}
	rep := newEndpointsReport(st)
	if len(st.Service.Spec.Selector) == 0 {
		rep.NoSelector = true
		return rep, nil
	}
	if !req.Resync {
		return rep, rep.disagreement(0)
	}
	if req.Before != nil {
		req.Before(rep)
	}
	return resyncAndWait(ctx, c, req)
}

// resyncAndWait writes the resync annotation and waits until the Service's
// endpoints agree with its pods.
func resyncAndWait(ctx context.Context, c *kube.Clients, req EndpointsRequest) (EndpointsReport, error) {
	ns, name := c.Namespace, req.Service
	if err := drift.Resync(ctx, c, ns, name); err != nil {
		return EndpointsReport{}, refusedIfDenied(err) // the only write failed: nothing changed
	}
	start := time.Now()
	if req.Resynced != nil {
		req.Resynced()
	}
	st, err := drift.AwaitAgreement(ctx, c, ns, name, req.Timeout)
	if err != nil {
		return EndpointsReport{}, err
	}
	rep := newEndpointsReport(st)
	rep.Resynced = true
	if len(rep.Drift) > 0 {
		return rep, rep.disagreement(req.Timeout)
	}
	ms := time.Since(start).Milliseconds()
	rep.AgreedAfterMs = &ms
	return rep, nil
}

func newEndpointsReport(st *drift.ServiceState) EndpointsReport {
	in := st.Inspect()
	r := EndpointsReport{Service: st.Service.Name, Namespace: st.Service.Namespace, ReadyEndpoints: in.ReadyEndpoints,
		ReadyPods: in.ReadyPods, Disagreements: []PodDisagreement{}, Drift: in.Disagreements}
	for _, d := range in.Disagreements {
		r.Disagreements = append(r.Disagreements, PodDisagreement{Pod: d.Pod, Reason: string(d.Reason)})
	}
	return r
}

// disagreement is the error of a report whose endpoints disagree, waited
// for after a resync, if any.
func (r EndpointsReport) disagreement(waited time.Duration) error {
	if len(r.Drift) == 0 {
		return nil
	}
	if waited > 0 {
		return fmt.Errorf("service %s/%s: endpoints still disagree with its pods %s after the resync", r.Namespace, r.Service, waited)
	}
	return hint.Errorf(hint.Resync, "service %s/%s: endpoints disagree with its pods: %s; a resync nudges the EndpointSlice controller",
		r.Namespace, r.Service, drift.Describe(r.Drift))
}
