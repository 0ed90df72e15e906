package chaos

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/cutover/cutover/internal/testinfra/audit"
)

// SummaryEnv names a file that receives the summary table too.
const SummaryEnv = "CHAOS_SUMMARY"

// summarize logs the summary table of the runs and writes it to
// $CHAOS_SUMMARY and $CUTOVER_ARTIFACTS/chaos-summary.txt when set.
func summarize(t *testing.T, rows []row) {
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.s.Seed, b.s.Seed) })
	text := summary(rows)
	t.Log("\n" + text)
	var paths []string
	if p := os.Getenv(SummaryEnv); p != "" {
		paths = append(paths, p)
	}
	if dir := os.Getenv(audit.ArtifactsEnv); dir != "" {
		paths = append(paths, filepath.Join(dir, "chaos-summary.txt"))
	}
	for _, p := range paths {
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, []byte(text), 0o644)
		}
		if err != nil {
			t.Errorf("write summary: %v", err)
		}
	}
}

// summary is the table of the runs and its totals.
func summary(rows []row) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "seed\tstrategy\tfault\treplicas\trollout\texit (want)\trequests\tfailed\tviolations\trecover\tdrift\tlag\tgone\ttook\tresult\tnotes")
	for _, r := range rows {
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%d (%d)\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.s.Seed, r.s.Strategy, r.s.Fault,
			r.s.Replicas, rolloutOf(r.s), r.exit, r.want.Exit, r.requests, r.failed, r.violations,
			orDash(r.recover), r.drift, orDash(slices.Max(append([]time.Duration{0}, r.lags...))), orDash(r.gone),
			r.took.Round(100*time.Millisecond), passFail(r.ok), r.note)
	}
	_ = w.Flush()
	t := totals(rows)
	fmt.Fprintf(&b, "runs %d (%d failed), violations %d, failed requests %d of %d, rollbacks %d, time to recover: median %s, worst %s\n",
		t.runs, t.failedRuns, t.violations, t.failed, t.requests, t.rollbacks, orDash(t.median), orDash(t.worst))
	fmt.Fprintln(&b, driftTotals(rows))
	fmt.Fprint(&b, lagTotals(rows))
	fmt.Fprintln(&b, goneTotals(rows))
	return b.String()
}

type total struct {
	runs, failedRuns, violations, failed, requests, rollbacks int
	median, worst                                             time.Duration
}

func totals(rows []row) total {
	var t total
	var recovered []time.Duration
	for _, r := range rows {
		t.runs++
		if !r.ok {
			t.failedRuns++
		}
		t.violations += r.violations
		t.failed += r.failed
		t.requests += r.requests
		if r.rolledBack {
			t.rollbacks++
			recovered = append(recovered, r.recover)
		}
	}
	if len(recovered) > 0 {
		slices.Sort(recovered)
		t.median, t.worst = median(recovered), recovered[len(recovered)-1]
	}
	return t
}

// median of sorted durations.
func median(d []time.Duration) time.Duration {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

func rolloutOf(s Scenario) string {
	if s.Strategy == BlueGreen {
		return "idle " + s.IdlePolicy
	}
	return fmt.Sprintf("surge %s unavail %s", s.MaxSurge, s.MaxUnavailable)
}

func orDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

func passFail(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

// driftTotals sums up what the endpoint drift guard saw (the drift column:
// episodes/longest/resyncs).
func driftTotals(rows []row) string {
	var runs, episodes, unresolved, resyncs int
	var longest []time.Duration
	for _, r := range rows {
		if r.drift.episodes == 0 {
			continue
		}
		runs++
		episodes += r.drift.episodes
		unresolved += r.drift.unresolved
		resyncs += r.drift.resyncs
		longest = append(longest, r.drift.longest)
	}
	if runs == 0 {
		return "endpoint drift: none past the guard's grace period (or the guard was off)"
	}
	slices.Sort(longest)
	return fmt.Sprintf("endpoint drift in %d runs: %d episodes (%d unresolved), %d resyncs; longest per run: median %s, worst %s",
		runs, episodes, unresolved, resyncs, longest[len(longest)/2].Round(100*time.Millisecond), longest[len(longest)-1].Round(100*time.Millisecond))
}

// goneTotals sums up how long production listed gone pods as ready
// endpoints: what a data plane could route to dead pods.
func goneTotals(rows []row) string {
	var runs int
	var total, worst time.Duration
	for _, r := range rows {
		if r.gone > 0 {
			runs++
			total += r.gone
			worst = max(worst, r.gone)
		}
	}
	return fmt.Sprintf("gone pods listed as ready endpoints in %d runs: %s in all, worst %s", runs,
		total.Round(time.Millisecond), worst.Round(time.Millisecond))
}

// lagTotals sums up, by fault, how long the Service's ready endpoints
// trailed a pod's change, as the auditor saw both: the measure the endpoint
// drift guard's grace period is chosen from.
func lagTotals(rows []row) string {
	byFault := map[Fault][]time.Duration{}
	for _, r := range rows {
		byFault[r.s.Fault] = append(byFault[r.s.Fault], r.lags...)
	}
	var b strings.Builder
	for _, f := range slices.Sorted(maps.Keys(byFault)) {
		d := byFault[f]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		fmt.Fprintf(&b, "endpoint lag, %s: %d changes, median %s, p99 %s, worst %s\n", f, len(d),
			orDash(median(d)), orDash(d[len(d)*99/100]), orDash(d[len(d)-1]))
	}
	return b.String()
}
