package dashboard

import (
	"fmt"
	"time"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/output"
	"github.com/cutover/cutover/internal/release"
)

// wait says whether, and how, a record waits for people.
type wait struct {
	// Label is the marker shown: "waiting for approval", "paused" or
	// "staged, waiting for a promote"; empty when the record waits for
	// nobody.
	Label string
	// Decidable: Approve and Reject (engine.Decide) answer it, since its
	// run is alive and watches its record.
	Decidable bool
	// Promotable: Promote (engine.Promote) lets a paused canary go on.
	Promotable bool
	// Abortable: Abort (engine.Abort) ends it: a canary in progress,
	// paused or not (all traffic back on stable), or a staged release.
	Abortable bool
}

// waitOf tells whether r waits: a running blue/green release at Confirm
// (deploy --approval manual) with a pending approval that the run
// watches; a canary paused at a step; or a blue/green release staged with
// --until confirm, which waits for a promote. A canary in progress can be
// aborted at any time.
func waitOf(r *release.Record) wait {
	pending := r.Approval != nil && r.Approval.State == release.ApprovalPending
	running := r.Outcome == release.OutcomeRunning
	switch {
	case running && r.Strategy == engine.Canary && pending:
		return wait{Label: "paused", Promotable: true, Abortable: true}
	case running && r.Strategy == engine.Canary:
		return wait{Abortable: true}
	case running && pending:
		return wait{Label: "waiting for approval", Decidable: true}
	case r.Outcome == release.OutcomePending:
		return wait{Label: "staged, waiting for a promote", Abortable: true}
	}
	return wait{}
}

// rollbackOf finds what a rollback of the app would go back to: only when
// its latest release is finished, so that no run is under way.
func rollbackOf(list []*release.Record) (engine.AppRollback, bool) {
	if len(list) == 0 || list[0].Outcome == release.OutcomeRunning || list[0].Outcome == release.OutcomePending {
		return engine.AppRollback{}, false
	}
	ar, err := engine.RollbackOf(list[0].App, list)
	return ar, err == nil
}

// Acts says whether any action answers the record.
func (w wait) Acts() bool { return w.Decidable || w.Promotable || w.Abortable }

// appRow is one app of the apps view.
type appRow struct {
	// Namespace is the app's, on the apps view.
	Namespace               string
	Name, Strategy, Outcome string
	Revision                int
	When                    time.Time
	Images                  []string
	// Target is where the release goes: "blue → green", or a canary's
	// weight.
	Target string
	Wait   wait
	// Before is the revision of the app's record before this one, in
	// the history: the release to compare with; 0 for the oldest.
	Before int
}

func appRowOf(r *release.Record) appRow {
	return appRow{
		Name: r.App, Strategy: r.Strategy, Outcome: r.Outcome, Revision: r.Revision,
		When: lastTime(r), Images: r.Images, Target: targetOf(r), Wait: waitOf(r),
	}
}

// lastTime is when r finished, or started while it runs.
func lastTime(r *release.Record) time.Time {
	if !r.Finished.IsZero() {
		return r.Finished
	}
	return r.Started
}

// targetOf words where r's release goes.
func targetOf(r *release.Record) string {
	switch {
	case r.Canary != nil:
		return fmt.Sprintf("canary weight %d%% (step %d of %d)", r.Canary.Weight, r.Canary.Step, r.Canary.Steps)
	case r.ToColor != "" && r.FromColor != "":
		return r.FromColor + " → " + r.ToColor
	case r.ToColor != "":
		return r.ToColor + " (first deploy)"
	}
	return ""
}

// stageRow is one stage of a release's timeline.
type stageRow struct {
	Name, Status, Error string
	Duration            string
}

func stageRows(r *release.Record, now time.Time) []stageRow {
	out := make([]stageRow, 0, len(r.Stages))
	for _, s := range r.Stages {
		out = append(out, stageRow{Name: s.Name, Status: s.Status, Error: s.Error, Duration: stageDuration(s, now)})
	}
	return out
}

// stageDuration is how long s took, or has run so far.
func stageDuration(s release.Stage, now time.Time) string {
	switch {
	case s.Started.IsZero():
		return ""
	case s.Finished.IsZero():
		return output.ShortDuration(now.Sub(s.Started)) + " so far"
	}
	return output.ShortDuration(s.Finished.Sub(s.Started))
}

// releaseView is the release view of an app: its latest record, and its
// history.
type releaseView struct {
	Latest appRow
	Record *release.Record
	Stages []stageRow
	// Charts are the analysis measurements, a chart per metric.
	Charts  []chart
	History []appRow
	// Production is what the blue/green production Service routes to
	// now, read when the page is; ProductionErr why it could not be read.
	Production    *engine.ProductionReport
	ProductionErr string
	// RollbackTo is the release a rollback goes back to, when the app has
	// one and nothing runs: nil otherwise.
	RollbackTo *appRow
}

func releaseViewOf(list []*release.Record, now time.Time) *releaseView {
	v := &releaseView{Latest: appRowOf(list[0]), Record: list[0], Stages: stageRows(list[0], now), Charts: chartsOf(list[0])}
	if ar, ok := rollbackOf(list); ok {
		row := appRowOf(ar.Previous)
		v.RollbackTo = &row
	}
	for i, r := range list {
		row := appRowOf(r)
		row.When = r.Started
		if i+1 < len(list) {
			row.Before = list[i+1].Revision
		}
		v.History = append(v.History, row)
	}
	return v
}
