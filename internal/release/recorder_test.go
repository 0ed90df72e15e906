package release_test

import (
	"errors"
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
