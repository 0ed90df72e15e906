package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

type recordsOptions struct {
	kube   kubeFlags
	output string
}

// newRecordsCmd returns `cutover status APP` (history false) or
// `cutover history APP`.
func newRecordsCmd(history bool) *cobra.Command {
	o := &recordsOptions{}
	use, short := "status APP", "Show the latest release of APP: colors, images, stages, outcome, approval"
	if history {
		use, short = "history APP", "List the releases of APP, newest first"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

Every cutover deploy, rolling or blue/green, leaves a release record in the
namespace (ConfigMap cutover-APP-rN, labelled app.kubernetes.io/managed-by=cutover);
the last 30 are kept.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0], history) },
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output: text or json")
	return cmd
}

func (o *recordsOptions) run(cmd *cobra.Command, app string, history bool) error {
	if o.output != "text" && o.output != "json" {
		return usageError{fmt.Errorf("-o %q: want text or json", o.output)}
	}
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	recs, err := engine.History(cmd.Context(), clients, app)
	if err != nil {
		return err
	}
	if !history {
		recs = recs[:1]
	}
	w := cmd.OutOrStdout()
	switch {
	case o.output == "json":
		return writeJSON(w, recs, history)
	case history:
		return writeHistory(w, recs)
	}
	writeStatus(w, recs[0])
	return nil
}

func writeJSON(w io.Writer, recs []*release.Record, list bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if list {
		return enc.Encode(recs)
	}
	return enc.Encode(recs[0])
}

func writeHistory(w io.Writer, recs []*release.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tSTARTED\tOUTCOME\tSWITCH\tIMAGES\tTOOK\tAPPROVAL")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Started.Format(time.RFC3339), r.Outcome,
			switchText(r), strings.Join(r.Images, ","), took(r), approvalText(r.Approval))
	}
	return tw.Flush()
}

func writeStatus(w io.Writer, r *release.Record) {
	fmt.Fprintf(w, "app:       %s (namespace %s)\n", r.App, r.Namespace)
	fmt.Fprintf(w, "revision:  %d, %s\n", r.Revision, r.Strategy)
	fmt.Fprintf(w, "outcome:   %s\n", r.Outcome)
	fmt.Fprintf(w, "switch:    %s\n", switchText(r))
	fmt.Fprintf(w, "images:    %s\n", strings.Join(r.Images, ", "))
	fmt.Fprintf(w, "started:   %s\n", startedText(r))
	fmt.Fprintf(w, "took:      %s\n", took(r))
	fmt.Fprintf(w, "approval:  %s\n", approvalText(r.Approval))
	if a := r.AbortRequest; a != nil {
		fmt.Fprintf(w, "abort:     asked by %s at %s%s\n", a.By, a.At.Format(time.RFC3339), commentText(a.Comment))
	}
	if t := objectsText(r); t != "" {
		fmt.Fprintf(w, "objects:   %s\n", t)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error:     %s\n", r.Error)
	}
	fmt.Fprintln(w, "stages:")
	for _, s := range r.Stages {
		line := fmt.Sprintf("  %-14s %-10s %s", s.Name, s.Status, stageTook(s))
		if s.Error != "" {
			line += "  " + s.Error
		}
		fmt.Fprintln(w, line)
	}
	writeAnalysis(w, r.Measurements)
}

// writeAnalysis sums up the record's measurements by stage and metric:
// how many of each phase, and the last value.
func writeAnalysis(w io.Writer, ms []release.Measurement) {
	type key struct{ stage, metric string }
	var order []key
	counts := map[key]map[string]int{}
	last := map[key]string{}
	for _, m := range ms {
		k := key{m.Stage, m.Metric}
		if counts[k] == nil {
			counts[k] = map[string]int{}
			order = append(order, k)
		}
		counts[k][m.Phase]++
		last[k] = m.Value
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprintln(w, "analysis:")
	for _, k := range order {
		var parts []string
		for _, phase := range []string{"successful", "failed", "inconclusive", "error"} {
			if n := counts[k][phase]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, phase))
			}
		}
		fmt.Fprintf(w, "  %-14s %-16s %s; last: %s\n", k.stage, k.metric, strings.Join(parts, ", "), last[k])
	}
}

func switchText(r *release.Record) string {
	if c := r.Canary; c != nil {
		return canaryText(c)
	}
	if r.ToColor == "" {
		return "-"
	}
	return orNone(r.FromColor) + " -> " + r.ToColor
}

// canaryText says how far a canary got: its steps, and its weight with
// the share its pods carry when the split is by replicas.
func canaryText(c *release.Canary) string {
	s := fmt.Sprintf("canary, %d of %d steps done", c.Step, c.Steps)
	if c.Weight > 0 {
		s += fmt.Sprintf(", weight %d%%", c.Weight)
		if c.Share != c.Weight {
			s += fmt.Sprintf(" (about %d%% of requests by replicas)", c.Share)
		}
	}
	return s
}

// startedText says when the run started and who started it: where it
// ran (Holder), and the person a front end names (By, with what they
// said: the dashboard's rollbacks).
func startedText(r *release.Record) string {
	at := r.Started.Format(time.RFC3339)
	if r.By == "" {
		return at + " by " + r.Holder
	}
	return at + " by " + r.By + ", run by " + r.Holder + commentText(r.Comment)
}

func commentText(c string) string {
	if c == "" {
		return ""
	}
	return ": " + c
}

func took(r *release.Record) string {
	if r.Finished.IsZero() {
		return "running"
	}
	return r.Finished.Sub(r.Started).Round(time.Millisecond).String()
}

func stageTook(s release.Stage) string {
	if s.Finished.IsZero() {
		return ""
	}
	return s.Finished.Sub(s.Started).Round(time.Millisecond).String()
}

func approvalText(a *release.Approval) string {
	switch {
	case a == nil:
		return "-"
	case a.By != "":
		return fmt.Sprintf("%s by %s at %s", a.State, a.By, a.At.Format(time.RFC3339))
	}
	return a.State
}

// objectsText says whether cutover rollback could redeploy r's release from
// the objects r keeps; it never shows them.
func objectsText(r *release.Record) string {
	switch {
	case r.HasObjects() && len(r.SkippedSecrets) > 0:
		return fmt.Sprintf("kept for a redeploy (%d KiB gzipped), Secrets left out: %s",
			(r.ObjectsSize()+1023)/1024, strings.Join(r.SkippedSecrets, ", "))
	case r.HasObjects():
		return fmt.Sprintf("kept for a redeploy (%d KiB gzipped)", (r.ObjectsSize()+1023)/1024)
	case r.ObjectsOmitted != "":
		return "not kept: " + r.ObjectsOmitted
	}
	return ""
}
