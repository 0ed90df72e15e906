package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/testinfra/audit"
)

// failingSmoke is a canary config whose analysis step fails.
const failingSmoke = `checks:
  - name: smoke
    command: {run: "exit 1"}
    attempts: 1
`

// TestCanaryDynamicStableScale: with --dynamic-stable-scale, stable (two
// pods) gives up a pod for the canary's at 50% and both at 100%, and the
// Service never has fewer than two ready endpoints: each side grows, its
// pods ready, before the other shrinks. Promoted, stable runs the release
// on its two pods again; aborted (a failed analysis, or `cutover abort` of
// a dead run), stable comes back to two before the canary goes. Either
// way the annotation that kept its count is gone.
func TestCanaryDynamicStableScale(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		steps  string
		config string
		kill   string // the stage to kill the run at, then abort it
		resume bool   // after the kill, rerun and promote instead
		code   int
		image  string
		// traffic are the traffic events: status asked/canary/stable pods
		traffic []string
	}{
		{name: "promoted", steps: "50,100", code: exitOK, image: "tomcat:8",
			traffic: []string{"set 50/1/1", "set 100/2/<nil>", "stable 0/<nil>/2"}}, // JSON leaves 0 stable pods out
		{name: "aborted", steps: "50,analysis=smoke", config: failingSmoke, code: exitRolledBack, image: "tomcat:7",
			traffic: []string{"set 50/1/1", "stable 0/<nil>/2"}},
		{name: "dead run aborted", steps: "50,pause", kill: "Step 2/2: pause until promoted", code: exitOK, image: "tomcat:7"},
		// The rerun learns stable's full count from its annotation, not
		// from the one pod the killed run left it.
		{name: "killed run resumed", steps: "50,pause,100", kill: "Step 2/3: pause until promoted", resume: true, code: exitOK, image: "tomcat:8",
			traffic: []string{"set 50/1/1", "set 100/2/<nil>", "stable 0/<nil>/2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			file := firstCanaryRelease(t, ns)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			aud, err := audit.Start(ctx, audit.Options{Client: cluster.Client, Namespace: ns, Service: "web",
				PodSelector: labels.SelectorFromSet(labels.Set{"app": "web"}), MinReady: 2})
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"--steps", tc.steps, "--dynamic-stable-scale", "-o", "json"}
			if tc.config != "" {
				args = append(args, "-c", writeFile(t, "cutover.yaml", tc.config))
			}
			var r result
			if tc.kill != "" {
				killAt(t, tc.kill, append([]string{"deploy", "--strategy", "canary", "-f", file, "--var", "TOMCAT_VERSION=8",
					"--kubeconfig", cluster.Kubeconfig, "-n", ns}, args...)...)
				if d := getDeployment(t, ns, "web"); d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Annotations[strategy.StableReplicasAnnotation] != "2" {
					t.Fatalf("the killed run left web at %v replicas, annotations %v; want 1, keeping 2", d.Spec.Replicas, d.Annotations)
				}
			}
			switch {
			case tc.resume:
				r = resumeAndPromote(t, ns, file, args)
			case tc.kill != "":
				r = cutover(t, ns, "", "abort", "web", "--timeout", "1m")
			default:
				r = canaryDeploy(t, ns, file, "8", args...)
			}
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			if vs := aud.Stop().Violations(); len(vs) > 0 {
				t.Errorf("the Service's ready endpoints fell below stable's two: %v", vs)
			}
			if tc.traffic != nil {
				assertTraffic(t, r.stdout, tc.traffic)
			}
			assertOnStable(t, ns, tc.image)
			d := getDeployment(t, ns, "web")
			if _, kept := d.Annotations[strategy.StableReplicasAnnotation]; kept || *d.Spec.Replicas != 2 {
				t.Errorf("web after the release: %d replicas, annotations %v; want 2, without %s", *d.Spec.Replicas, d.Annotations, strategy.StableReplicasAnnotation)
			}
			if rec := latestOf(t, ns, "web"); tc.code != exitOK && rec.Outcome != release.OutcomeRolledBack {
				t.Errorf("record outcome %s, want rolled back", rec.Outcome)
			}
		})
	}
}

// resumeAndPromote reruns a killed canary release and promotes it once it
// pauses again.
func resumeAndPromote(t *testing.T, ns, file string, args []string) result {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- canaryDeploy(t, ns, file, "8", args...) }()
	waitPaused(t, ns, 3, done) // not the killed run's revision 2, paused too
	if p := cutover(t, ns, "", "promote", "web"); p.code != exitOK {
		t.Fatalf("promote: exit %d", p.code)
	}
	return <-done
}

// assertTraffic checks a run's traffic events: "status asked/canary
// pods/stable pods".
func assertTraffic(t *testing.T, stdout string, want []string) {
	t.Helper()
	var got []string
	for _, ev := range jsonEvents(t, stdout) {
		if ev["type"] != "traffic" {
			continue
		}
		w, _ := ev["weight"].(map[string]any)
		got = append(got, fmt.Sprintf("%v %v/%v/%v", ev["status"], w["asked"], w["canaryPods"], w["stablePods"]))
	}
	if !slices.Equal(got, want) {
		t.Errorf("traffic events %q, want %q", got, want)
	}
}

// TestCanaryDynamicStableScaleRefusedThroughAGateway: a gateway's weights
// split exactly; the flag is refused there, before anything runs.
func TestCanaryDynamicStableScaleRefusedThroughAGateway(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "app.yaml", plainApp)
	r := canaryDeploy(t, ns, file, "8", "--route", "web", "--dynamic-stable-scale")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--dynamic-stable-scale: only without --route") {
		t.Errorf("exit %d, want %d refusing the flag", r.code, exitUsage)
	}
	if l, err := cluster.Client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Errorf("the refused run left Deployments: %v %v", l, err)
	}
}
