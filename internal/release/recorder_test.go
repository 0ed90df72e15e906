package release_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/release"
)

func TestRecorderKeepsStagesAndOutcome(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	rec := release.NewRecorder(s, &release.Record{App: "web", Strategy: "blue-green"}, nil)
	t0 := time.Now()
	rec.Emit(event.Event{Type: event.StageStarted, Stage: "Check Env", Time: t0})
	rec.Emit(event.Event{Type: event.StageFinished, Stage: "Check Env", Status: "succeeded", Time: t0.Add(time.Millisecond)})
	if got, _ := s.Latest(ctx, "web"); got != nil {
		t.Fatalf("a record was stored before Start: %+v", got)
	}
	if err := rec.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"Deploy", "Switch"} {
		rec.Emit(event.Event{Type: event.StageStarted, Stage: st, Time: time.Now()})
		rec.Emit(event.Event{Type: event.StageFinished, Stage: st, Status: "failed", Error: st + " broke", Time: time.Now()})
	}
	if err := rec.Finish(release.OutcomeFailed, errors.New("switch broke")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Latest(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != release.OutcomeFailed || got.Error != "switch broke" || len(got.Stages) != 3 {
		t.Fatalf("stored %+v", got)
	}
	for i, want := range []string{"Check Env", "Deploy", "Switch"} {
		if st := got.Stages[i]; st.Name != want || st.Finished.IsZero() || st.Status == release.StageRunning {
			t.Errorf("stage %d: %+v, want %s finished", i, st, want)
		}
	}
}

// TestRecorderTellsAFailedWriteOnce: writes that fail reach the log, which
// the engine turns into warning events, once per streak: a record that
// can no longer be written is said, and not once per stage.
func TestRecorderTellsAFailedWriteOnce(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	c, proxy := proxied(t)
	var logged bytes.Buffer
	rec := release.NewRecorder(release.NewStore(c, ns), &release.Record{App: "web", Strategy: "rolling"},
		slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := rec.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rec.Change(ctx, func(r *release.Record) { r.ToColor = "" }); err != nil {
		t.Fatalf("a write with the API server reachable: %v", err)
	}
	if logged.Len() != 0 {
		t.Fatalf("logged with every write succeeding: %s", logged.String())
	}
	proxy.Close()
	for _, st := range []string{"Apply", "Wait"} {
		rec.Emit(event.Event{Type: event.StageStarted, Stage: st, Time: time.Now()})
		if err := rec.Change(ctx, func(*release.Record) {}); err == nil {
			t.Fatal("a write through a closed proxy succeeded")
		}
	}
	if err := rec.Finish(release.OutcomeSucceeded, nil); err == nil {
		t.Fatal("Finish through a closed proxy succeeded")
	}
	if n := strings.Count(logged.String(), "the release record was not updated"); n != 1 {
		t.Errorf("a streak of failed writes logged %d times, want once:\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "revision=1") {
		t.Errorf("the warning lacks its level or the revision: %s", logged.String())
	}
}
