package release_test

import (
	"errors"
	"testing"

	"github.com/cutover/cutover/internal/release"
)

// TestRequestAbort: a running record takes an abort request, which its
// run sees, and keeps it through the run's own later writes; a finished
// one refuses it.
func TestRequestAbort(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	rec := release.NewRecorder(s, &release.Record{App: "web", Strategy: "canary", Outcome: release.OutcomeRunning,
		Canary: &release.Canary{Step: 1, Steps: 3, Weight: 10, Share: 20}}, nil)
	if err := rec.Start(ctx); err != nil {
		t.Fatal(err)
	}
	seen := make(chan *release.Approval, 1)
	go func() {
		a, err := s.WaitForAbortRequest(ctx, "web", 1)
		if err != nil {
			t.Errorf("WaitForAbortRequest: %v", err)
		}
		seen <- a
	}()
	if _, err := s.RequestAbort(ctx, "web", "oncall", "errors up"); err != nil {
		t.Fatalf("RequestAbort: %v", err)
	}
	if a := <-seen; a == nil || a.By != "oncall" || a.Comment != "errors up" {
		t.Fatalf("the run saw %+v, want the request of oncall", a)
	}
	// The run goes on writing its record, from its copy without the
	// request: the request stays.
	if err := rec.Change(ctx, func(r *release.Record) { r.Canary.Step = 2 }); err != nil {
		t.Fatal(err)
	}
	if err := rec.Finish(release.OutcomeRolledBack, errors.New("aborted")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.AbortRequest == nil || got.AbortRequest.By != "oncall" || got.Canary == nil || got.Canary.Step != 2 || got.Canary.Share != 20 {
		t.Errorf("stored: abort request %+v, canary %+v; want oncall's request and step 2 of 3 at 20%%", got.AbortRequest, got.Canary)
	}
	if _, err := s.RequestAbort(ctx, "web", "oncall", ""); !errors.Is(err, release.ErrNotRunning) {
		t.Errorf("RequestAbort of a finished release: %v, want ErrNotRunning", err)
	}
}
