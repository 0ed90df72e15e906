package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/kube"
)

type endpointsOptions struct {
	kube    kubeFlags
	resync  bool
	timeout time.Duration
	output  string
}

func newEndpointsCmd() *cobra.Command {
	o := &endpointsOptions{}
	cmd := &cobra.Command{
		Use:   "endpoints SERVICE",
		Short: "Show the drift between a Service's EndpointSlices and the pods it selects; --resync nudges the controller",
		Long: `Endpoints compares the ready endpoints in SERVICE's EndpointSlices with the
ready pods SERVICE selects, and lists every pod where they disagree.

kube-proxy and ingress controllers route a Service's traffic by its
EndpointSlices, which the EndpointSlice controller (in kube-controller-manager)
keeps in step with the pods, normally within a second. Drift is when it has not:
a pod that is gone, terminating, not ready or no longer selected is still a
ready endpoint, or a ready pod is not one. Traffic then goes to pods that are
leaving and not to the new ones. The controller falls behind when it is stuck
or starved, or after "EndpointSlice informer cache is out of date" errors,
typically after an API server restart, when it retries a Service with a back-off
that grows to many minutes (kubernetes#124547).

--resync writes the current time into the annotation
` + drift.ResyncAnnotation + ` on the Service (field manager
` + drift.FieldManager + `). It changes no routing: no selector, port or
endpoint. But every update of a Service makes the controller recompute its
slices at once, outside its back-off. cutover then watches the Service's
EndpointSlices until they agree with the pods, for at most --timeout, and says
how long that took.

A Service without a selector has endpoints that someone else manages: nothing
is compared, and --resync writes nothing.

Exit codes:
  0  the endpoints agree with the pods (after --resync, if given), or the
     Service has no selector
  1  the endpoints disagree with the pods (with --resync: still, after --timeout)
  2  bad flags or arguments
  3  refused before any change: no such Service, unreachable cluster, no permission`,
		Example: `  cutover endpoints tomcat-service -n prod
  cutover endpoints tomcat-service -n prod --resync --timeout 1m -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), cmd, args[0]) },
	}
	fs := cmd.Flags()
	o.kube.register(fs)
	fs.BoolVar(&o.resync, "resync", false, "annotate the Service so that the EndpointSlice controller recomputes its slices, then wait until they agree")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "with --resync: how long to wait for the endpoints to agree")
	fs.StringVarP(&o.output, "output", "o", "text", "output: text or json (one object)")
	return cmd
}

func (o *endpointsOptions) validate() error {
	if o.output != "text" && o.output != "json" {
		return usageError{fmt.Errorf("-o %q: want text or json", o.output)}
	}
	if o.timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %s: want a positive duration", o.timeout)}
	}
	return nil
}

func (o *endpointsOptions) run(ctx context.Context, cmd *cobra.Command, service string) error {
	if err := o.validate(); err != nil {
		return err
	}
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	st, err := readEndpoints(ctx, clients, clients.Namespace, service)
	if err != nil {
		return badInput{err} // nothing changed yet
	}
	out := endpointsOutput{w: cmd.OutOrStdout(), json: o.output == "json"}
	if len(st.svc.Spec.Selector) == 0 {
		return out.unmanaged(st)
	}
	rep := newEndpointsReport(st)
	if !o.resync {
		return out.done(rep, "", rep.disagreement())
	}
	out.progress(rep, "")
	return o.resyncAndWait(ctx, clients, out, st)
}

// resyncAndWait writes the resync annotation and waits until the Service's
// endpoints agree with its pods.
func (o *endpointsOptions) resyncAndWait(ctx context.Context, c *kube.Clients, out endpointsOutput, st *endpointsState) error {
	ns, name := st.svc.Namespace, st.svc.Name
	if err := drift.Resync(ctx, c, ns, name); err != nil {
		return forbiddenIsBadInput(err) // the only write: it failed, nothing changed
	}
	start := time.Now()
	out.line("resynced: annotation " + drift.ResyncAnnotation + " set")
	st, err := awaitAgreement(ctx, c, ns, name, o.timeout)
	if err != nil {
		return err
	}
	rep := newEndpointsReport(st)
	rep.Resynced = true
	if len(rep.ds) > 0 {
		return out.done(rep, "", fmt.Errorf("service %s/%s: endpoints still disagree with its pods %s after the resync", ns, name, o.timeout))
	}
	took := time.Since(start)
	ms := took.Milliseconds()
	rep.AgreedAfterMs = &ms
	return out.done(rep, " after "+took.Round(time.Millisecond).String(), nil)
}

// endpointsState is one read of a Service, its EndpointSlices and the pods
// of its namespace.
type endpointsState struct {
	svc      *corev1.Service
	slices   []*discoveryv1.EndpointSlice
	pods     []*corev1.Pod
	slicesRV string // of the slice list: where a watch for the next change starts
}

func readEndpoints(ctx context.Context, c *kube.Clients, ns, name string) (*endpointsState, error) {
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
	return &endpointsState{svc: svc, slices: pointers(slices.Items), pods: pointers(pods.Items),
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

// awaitAgreement compares fresh reads after every change of the Service's
// EndpointSlices until the endpoints agree with the pods or timeout passes,
// and returns the last read. Reads use ctx, so that
// one last read follows the timeout.
func awaitAgreement(ctx context.Context, c *kube.Clients, ns, name string, timeout time.Duration) (*endpointsState, error) {
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		st, err := readEndpoints(ctx, c, ns, name)
		if err != nil {
			return nil, err
		}
		if len(drift.Compare(st.svc, st.slices, st.pods)) == 0 || wait.Err() != nil {
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

// endpointsReport is the command's result; -o json prints it.
type endpointsReport struct {
	Service        string            `json:"service"`
	Namespace      string            `json:"namespace"`
	ReadyEndpoints int               `json:"readyEndpoints"`
	ReadyPods      int               `json:"readyPods"`
	Disagreements  []podDisagreement `json:"disagreements"`
	Resynced       bool              `json:"resynced"`
	AgreedAfterMs  *int64            `json:"agreedAfterMs"` // null unless a resync was followed by agreement
	NoSelector     bool              `json:"noSelector,omitempty"`
	ds             []drift.Disagreement
}

type podDisagreement struct {
	Pod    string `json:"pod"`
	Reason string `json:"reason"`
}

func newEndpointsReport(st *endpointsState) endpointsReport {
	in := drift.Inspect(st.svc, st.slices, st.pods)
	r := endpointsReport{Service: st.svc.Name, Namespace: st.svc.Namespace, ReadyEndpoints: in.ReadyEndpoints,
		ReadyPods: in.ReadyPods, Disagreements: []podDisagreement{}, ds: in.Disagreements}
	for _, d := range in.Disagreements {
		r.Disagreements = append(r.Disagreements, podDisagreement{Pod: d.Pod, Reason: string(d.Reason)})
	}
	return r
}

// disagreement is the error of a report whose endpoints disagree.
func (r endpointsReport) disagreement() error {
	if len(r.ds) == 0 {
		return nil
	}
	return fmt.Errorf("service %s/%s: endpoints disagree with its pods: %s (--resync nudges the EndpointSlice controller)",
		r.Namespace, r.Service, drift.Describe(r.ds))
}

// endpointsOutput writes text lines as the command goes, or one JSON
// object at the end.
type endpointsOutput struct {
	w    io.Writer
	json bool
}

func (o endpointsOutput) line(s string) {
	if !o.json {
		fmt.Fprintln(o.w, s)
	}
}

// progress writes, in text, the summary of r; suffix follows "in agreement".
func (o endpointsOutput) progress(r endpointsReport, suffix string) {
	if o.json {
		return
	}
	head := fmt.Sprintf("Service %s/%s: %d ready endpoints, %d ready pods selected: ", r.Namespace, r.Service, r.ReadyEndpoints, r.ReadyPods)
	if len(r.ds) == 0 {
		fmt.Fprintln(o.w, head+"in agreement"+suffix)
		return
	}
	fmt.Fprintln(o.w, head+"disagree:")
	for _, d := range r.ds {
		fmt.Fprintln(o.w, "  "+d.String())
	}
}

// done writes the final result r and returns err.
func (o endpointsOutput) done(r endpointsReport, suffix string, err error) error {
	if !o.json {
		o.progress(r, suffix)
		return err
	}
	enc := json.NewEncoder(o.w)
	enc.SetIndent("", "  ")
	if werr := enc.Encode(r); werr != nil {
		return fmt.Errorf("write json: %w", werr)
	}
	return err
}

func (o endpointsOutput) unmanaged(st *endpointsState) error {
	r := newEndpointsReport(st)
	r.NoSelector = true
	if o.json {
		return o.done(r, "", nil)
	}
	fmt.Fprintf(o.w, "Service %s/%s has no selector: its endpoints are managed by someone else; nothing to compare\n",
		r.Namespace, r.Service)
	return nil
}
