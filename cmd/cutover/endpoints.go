package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/engine"
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
	out := endpointsOutput{w: cmd.OutOrStdout(), json: o.output == "json"}
	rep, err := engine.Endpoints(ctx, clients, engine.EndpointsRequest{
		Service: service, Resync: o.resync, Timeout: o.timeout,
		Before:   func(r engine.EndpointsReport) { out.progress(r, "") },
		Resynced: func() { out.line("resynced: annotation " + drift.ResyncAnnotation + " set") },
	})
	if rep.Service == "" {
		return err // nothing was read
	}
	return out.done(rep, err)
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
func (o endpointsOutput) progress(r engine.EndpointsReport, suffix string) {
	if o.json {
		return
	}
	head := fmt.Sprintf("Service %s/%s: %d ready endpoints, %d ready pods selected: ", r.Namespace, r.Service, r.ReadyEndpoints, r.ReadyPods)
	if len(r.Drift) == 0 {
		fmt.Fprintln(o.w, head+"in agreement"+suffix)
		return
	}
	fmt.Fprintln(o.w, head+"disagree:")
	for _, d := range r.Drift {
		fmt.Fprintln(o.w, "  "+d.String())
	}
}

// done writes the final result r and returns err.
func (o endpointsOutput) done(r engine.EndpointsReport, err error) error {
	if o.json {
		enc := json.NewEncoder(o.w)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(r); werr != nil {
			return fmt.Errorf("write json: %w", werr)
		}
		return err
	}
	switch {
	case r.NoSelector:
		fmt.Fprintf(o.w, "Service %s/%s has no selector: its endpoints are managed by someone else; nothing to compare\n",
			r.Namespace, r.Service)
	case r.AgreedAfterMs != nil:
		o.progress(r, " after "+(time.Duration(*r.AgreedAfterMs)*time.Millisecond).String())
	default:
		o.progress(r, "")
	}
	return err
}
