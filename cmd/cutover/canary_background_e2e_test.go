package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/release"
)

// backgroundCanary is a canary config whose analysis "health" runs in the
// background: metric app-errors reads the number in the returned file
// every 200 ms, 0 passing, anything else failing, and steps.
func backgroundCanary(t *testing.T, steps, metric string) (cfg, state string) {
	t.Helper()
	state = filepath.Join(t.TempDir(), "errors")
	setState(t, state, "0")
	cfg = writeFile(t, "cutover.yaml", `strategy: canary
checks:
  - name: health
    analysis:
      metrics:
        - name: app-errors
          command: {run: "`+strings.ReplaceAll(metric, "STATE", state)+`"}
          interval: 200ms
          consecutiveErrorLimit: 1
          successCondition: result == 0
          failureCondition: result != 0
canary:
  analysis: health
  scaleDownDelay: 1s
  steps:
`+steps)
	return cfg, state
}

func setState(t *testing.T, path, value string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
}

// backgroundMeasured waits until the run's record holds n measurements of
// the background analysis that passed; done must not end first.
func backgroundMeasured(t *testing.T, ns string, n int, done <-chan result) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for passed := 0; passed < n; {
		select {
		case r := <-done:
			t.Fatalf("the canary ended before its background analysis passed %d measurements: exit %d", n, r.code)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background analysis passed %d measurements in a minute, want %d", passed, n)
		}
		passed = 0
		if r, err := release.NewStore(cluster.Client, ns).Latest(t.Context(), "web"); err == nil && r != nil && r.Revision == 2 {
			passed = len(measurements(r, "Analysis", "successful"))
		}
	}
}

func measurements(r *release.Record, stage, phase string) []release.Measurement {
	var out []release.Measurement
	for _, m := range r.Measurements {
		if m.Stage == stage && m.Phase == phase {
			out = append(out, m)
		}
	}
	return out
}

// TestCanaryBackgroundAnalysisAbortsMidStep: a background analysis passes
// while the canary holds 50% in a 5-minute pause; the app's errors appear,
// its next measurement fails, and the canary aborts at once, mid-pause:
// exit 4, the pause's stage failed naming the metric, stable untouched
// and the canary gone.
func TestCanaryBackgroundAnalysisAbortsMidStep(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	cfg, state := backgroundCanary(t, "    - setWeight: 50\n    - pause: {duration: 5m}\n", "cat STATE")
	done := make(chan result, 1)
	go func() {
		done <- cutover(t, ns, "", "deploy", "-c", cfg, "-f", file, "--var", "TOMCAT_VERSION=8", "-o", "json")
	}()
	backgroundMeasured(t, ns, 3, done)
	setState(t, state, "7")
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("a failed background analysis did not end the 5-minute pause within a minute")
	}
	if r.code != exitRolledBack || !strings.Contains(r.stdout, `"stage":"Step 2/2: pause 5m0s","status":"failed"`) ||
		!strings.Contains(r.stderr, "app-errors") {
		t.Fatalf("exit %d, want 4 with the pause's stage failed and the metric named", r.code)
	}
	assertOnStable(t, ns, "tomcat:7")
	rec := latestOf(t, ns, "web")
	if failed := measurements(rec, "Analysis", "failed"); rec.Outcome != release.OutcomeRolledBack || len(failed) != 1 || failed[0].Value != "result 7" {
		t.Errorf("record: outcome %s, failed measurements %+v; want rolled back on one measurement of 7", rec.Outcome, failed)
	}
}

// TestCanaryBackgroundAnalysisPassesAndPromotes: a canary whose background
// analysis passes throughout is promoted after its verdict: the Analysis
// stage succeeds after the last step, and stable runs the release.
func TestCanaryBackgroundAnalysisPassesAndPromotes(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	cfg, _ := backgroundCanary(t, "    - setWeight: 50\n    - pause: {duration: 2s}\n", "cat STATE")
	r := cutover(t, ns, "", "deploy", "-c", cfg, "-f", file, "--var", "TOMCAT_VERSION=8", "-o", "json")
	if r.code != exitOK || !strings.Contains(r.stdout, `"stage":"Analysis","status":"succeeded"`) {
		t.Fatalf("exit %d, want 0 with the Analysis stage succeeded", r.code)
	}
	assertOnStable(t, ns, "tomcat:8")
	rec := latestOf(t, ns, "web")
	if passed := measurements(rec, "Analysis", "successful"); len(passed) < 5 || len(passed) != len(rec.Measurements) {
		t.Errorf("record's measurements %+v: want at least 5 (2 s at 200 ms), all passed, in stage Analysis", rec.Measurements)
	}
}

// TestCanaryBackgroundAnalysisThatCannotJudgeWaitsForAPerson: the
// background analysis's provider fails (the metric's command cannot run),
// so it cannot judge: the canary stops its 5-minute pause and waits for a
// person rather than promote; promoted, it goes on past the pause without
// the analysis, and stable runs the release.
func TestCanaryBackgroundAnalysisThatCannotJudgeWaitsForAPerson(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	cfg, state := backgroundCanary(t, "    - setWeight: 50\n    - pause: {duration: 5m}\n", "cat STATE")
	done := make(chan result, 1)
	go func() { done <- cutover(t, ns, "", "deploy", "-c", cfg, "-f", file, "--var", "TOMCAT_VERSION=8") }()
	backgroundMeasured(t, ns, 1, done)
	if err := os.Remove(state); err != nil { // cat fails: two errors in a row pass consecutiveErrorLimit 1
		t.Fatal(err)
	}
	waitPaused(t, ns, 2, done)
	if d := getDeployment(t, ns, "web"); d.Spec.Template.Spec.Containers[0].Image != "tomcat:7" {
		t.Errorf("an analysis that could not judge promoted: stable runs %s", d.Spec.Template.Spec.Containers[0].Image)
	}
	if r := cutover(t, ns, "", "promote", "web", "--by", "qa"); r.code != exitOK {
		t.Fatalf("promote: exit %d", r.code)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the promoted canary went back to its 5-minute pause")
	}
	if r.code != exitOK || !strings.Contains(r.stdout, "could not judge") {
		t.Fatalf("the promoted canary: exit %d, want 0 after saying the analysis could not judge", r.code)
	}
	assertOnStable(t, ns, "tomcat:8")
}
