package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cutover/cutover/internal/release"
)

// jobMetricConfig is a canary whose analysis step measures a Job twice: a
// smoke test of the canary, which passes or fails as behavior says.
const jobMetricConfig = `strategy: canary
checks:
  - name: smoke
    analysis:
      metrics:
        - name: smoke-test
          job: {file: JOBFILE}
          count: 2
          interval: 1s
canary:
  steps:
    - setWeight: 50
    - analysis: smoke
  scaleDownDelay: 1s
`

const smokeJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
spec:
  template:
    metadata:
      annotations: {testbed.cutover.dev/behavior: BEHAVIOR, testbed.cutover.dev/complete-after: 300ms}
    spec:
      restartPolicy: Never
      containers:
      - name: smoke
        image: smoke:1
`

// jobsSeen records the env of every Job created in ns while it runs: the
// Jobs are deleted once measured.
func jobsSeen(t *testing.T, ns string) func() [][]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cluster.Client.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var envs [][]string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			j, ok := ev.Object.(*batchv1.Job)
			if ev.Type != watch.Added || !ok {
				continue
			}
			var env []string
			for _, e := range j.Spec.Template.Spec.Containers[0].Env {
				env = append(env, e.Name+"="+e.Value)
			}
			mu.Lock()
			envs = append(envs, env)
			mu.Unlock()
		}
	}()
	return func() [][]string {
		cancel()
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return envs
	}
}

// TestCanaryJobMetric: an analysis metric measured by a Kubernetes Job.
// Each measurement runs a Job whose containers name the release (app,
// revision, the canary's and stable's Deployments) in their environment;
// a Job that completes is a successful measurement, one that fails a
// failed one, which aborts the canary.
func TestCanaryJobMetric(t *testing.T) {
	t.Parallel()
	cases := []struct {
		behavior string
		code     int
		outcome  string
		image    string // stable's, after
		jobs     int
	}{
		{behavior: "ready", code: exitOK, outcome: release.OutcomeSucceeded, image: "tomcat:8", jobs: 2},
		{behavior: "fail", code: exitRolledBack, outcome: release.OutcomeRolledBack, image: "tomcat:7", jobs: 1},
	}
	for _, tc := range cases {
		t.Run(tc.behavior, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			file := firstCanaryRelease(t, ns)
			job := writeFile(t, "smoke.yaml", strings.ReplaceAll(smokeJob, "BEHAVIOR", tc.behavior))
			cfg := writeFile(t, "cutover.yaml", strings.ReplaceAll(jobMetricConfig, "JOBFILE", job))
			seen := jobsSeen(t, ns)
			r := cutover(t, ns, "", "deploy", "-c", cfg, "-f", file, "--var", "TOMCAT_VERSION=8")
			envs := seen()
			if r.code != tc.code {
				t.Fatalf("canary with a %s Job metric: exit %d, want %d\n%s", tc.behavior, r.code, tc.code, r.stderr)
			}
			assertOnStable(t, ns, tc.image)
			rec := latestOf(t, ns, "web")
			if rec.Outcome != tc.outcome {
				t.Errorf("record outcome %s, want %s", rec.Outcome, tc.outcome)
			}
			if len(envs) != tc.jobs {
				t.Fatalf("%d Jobs ran, want %d", len(envs), tc.jobs)
			}
			want := []string{"CUTOVER_APP=web", "CUTOVER_NAMESPACE=" + ns, "CUTOVER_CANARY_DEPLOYMENT=web-canary",
				"CUTOVER_STABLE_DEPLOYMENT=web", "CUTOVER_REVISION=" + strconv.Itoa(rec.Revision)}
			for _, w := range want {
				if !slices.Contains(envs[0], w) {
					t.Errorf("the Job's environment %q lacks %s", envs[0], w)
				}
			}
			var phases []string
			for _, m := range rec.Measurements {
				phases = append(phases, m.Stage+": "+m.Metric+" "+m.Phase)
			}
			step := "Step 2/2: analysis smoke: smoke-test "
			wantPhases := map[string][]string{"ready": {step + "successful", step + "successful"}, "fail": {step + "failed"}}[tc.behavior]
			if !slices.Equal(phases, wantPhases) {
				t.Errorf("recorded measurements %q, want %q", phases, wantPhases)
			}
			left, err := cluster.Client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil || len(left.Items) != 0 {
				t.Errorf("Jobs left after the release: %d (%v)", len(left.Items), err)
			}
		})
	}
}
