package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/release"
)

// canaryDeploy runs a canary release of plainApp at version, with extra
// flags.
func canaryDeploy(t *testing.T, ns, file, version string, extra ...string) result {
	t.Helper()
	args := append([]string{"deploy", "--strategy", "canary", "-f", file, "--var", "TOMCAT_VERSION=" + version,
		"--scale-down-delay", "1s"}, extra...)
	return cutover(t, ns, "", args...)
}

// firstCanaryRelease deploys version 7 of plainApp: a first release, with
// nothing stable to compare with, rolls out in full.
func firstCanaryRelease(t *testing.T, ns string) string {
	t.Helper()
	file := writeFile(t, "app.yaml", plainApp)
	r := canaryDeploy(t, ns, file, "7")
	if r.code != exitOK || !strings.Contains(r.stdout, "nothing stable to compare with") {
		t.Fatalf("first canary release: exit %d, want 0 saying it rolled out in full", r.code)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "web-canary", metav1.GetOptions{}); err == nil {
		t.Error("a first release created web-canary")
	}
	return file
}

// assertOnStable checks that web runs image on its two pods, that the
// canary has no pod left, and that the Service's ready endpoints are web's
// pods only.
func assertOnStable(t *testing.T, ns, image string) {
	t.Helper()
	d := getDeployment(t, ns, "web")
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("web runs %s, want %s", got, image)
	}
	if c := getDeployment(t, ns, "web-canary"); c.Spec.Replicas == nil || *c.Spec.Replicas != 0 {
		t.Errorf("web-canary asks for %v replicas, want 0", c.Spec.Replicas)
	}
	waitReadyPods(t, ns, "app=web,cutover.dev/track=canary", 0)
	stable := readyPods(t, ns, "app=web,cutover.dev/track!=canary")
	if got := serviceEndpoints(t, ns, "web"); len(stable) != 2 || !slices.Equal(got, stable) {
		t.Errorf("service web routes to %v, want web's two ready pods %v", got, stable)
	}
}

func latestOf(t *testing.T, ns, app string) *release.Record {
	t.Helper()
	r, err := release.NewStore(cluster.Client, ns).Latest(context.Background(), app)
	if err != nil || r == nil {
		t.Fatalf("latest record of %s: %v, %v", app, r, err)
	}
	return r
}

// TestCanaryWalksItsSteps: a canary of version 8 goes 25% then 50%, each
// weight confirmed by ready canary pods in the Service's endpoints, then
// stable takes version 8 and the canary goes; the record says so.
func TestCanaryWalksItsSteps(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	r := canaryDeploy(t, ns, file, "8", "--steps", "25,pause=1s,50%", "-o", "json")
	if r.code != exitOK {
		t.Fatalf("canary of 8: exit %d", r.code)
	}
	// 25% of 2 stable pods is 1 canary pod; so is 50%: a third of the traffic.
	assertTraffic(t, r.stdout, []string{"set 25/1/2", "set 50/1/2", "stable 0/<nil>/2"})
	assertOnStable(t, ns, "tomcat:8")
	rec := latestOf(t, ns, "web")
	if rec.Strategy != "canary" || rec.Outcome != release.OutcomeSucceeded || rec.Canary == nil || rec.Canary.Step != 3 || rec.Canary.Steps != 3 {
		t.Errorf("record: strategy %s, outcome %s, canary %+v; want canary, succeeded, 3 of 3 steps", rec.Strategy, rec.Outcome, rec.Canary)
	}
	var stages []string
	for _, s := range rec.Stages {
		stages = append(stages, s.Name)
	}
	want := []string{"Validate", "Apply", "Step 1/3: weight 25%", "Step 2/3: pause 1s", "Step 3/3: weight 50%", "Promote", "Scale Down"}
	if !slices.Equal(stages, want) {
		t.Errorf("recorded stages %q, want %q", stages, want)
	}
}

// pausedCanary starts a canary of version 8 that pauses at 50% until
// promoted, and returns its result once it ends, after waiting until it
// paused: the canary's pod is then a ready endpoint beside stable's.
func pausedCanary(t *testing.T, ns string) <-chan result {
	t.Helper()
	file := firstCanaryRelease(t, ns)
	done := make(chan result, 1)
	go func() { done <- canaryDeploy(t, ns, file, "8", "--steps", "50,pause") }()
	waitPaused(t, ns, 2, done)
	canary := readyPods(t, ns, "app=web,cutover.dev/track=canary")
	all := append(readyPods(t, ns, "app=web,cutover.dev/track!=canary"), canary...)
	slices.Sort(all)
	if got := serviceEndpoints(t, ns, "web"); len(canary) != 1 || !slices.Equal(got, all) {
		t.Errorf("paused at 50%%: service web routes to %v, want stable's two pods and the canary's one, %v", got, all)
	}
	if d := getDeployment(t, ns, "web"); d.Spec.Template.Spec.Containers[0].Image != "tomcat:7" {
		t.Errorf("paused: stable runs %s, want tomcat:7 until promotion", d.Spec.Template.Spec.Containers[0].Image)
	}
	return done
}

// waitPaused waits until revision rev of the app waits for a promote;
// done is the run's result, which must not come first.
func waitPaused(t *testing.T, ns string, rev int, done <-chan result) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := release.NewStore(cluster.Client, ns).Latest(context.Background(), "web")
		if err == nil && r != nil && r.Revision == rev && r.Approval != nil && r.Approval.State == release.ApprovalPending {
			return
		}
		select {
		case res := <-done:
			t.Fatalf("the canary ended before it paused: exit %d", res.code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the canary did not pause within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCanaryPauseIsPromoted: `cutover promote` lets a paused canary go on.
func TestCanaryPauseIsPromoted(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	done := pausedCanary(t, ns)
	if r := cutover(t, ns, "", "promote", "web", "--by", "qa"); r.code != exitOK {
		t.Fatalf("promote: exit %d", r.code)
	}
	if r := <-done; r.code != exitOK {
		t.Fatalf("the promoted canary: exit %d", r.code)
	}
	assertOnStable(t, ns, "tomcat:8")
	if rec := latestOf(t, ns, "web"); rec.Approval == nil || rec.Approval.By != "qa" || rec.Approval.State != release.ApprovalApproved {
		t.Errorf("record's approval %+v, want approved by qa", rec.Approval)
	}
	if r := cutover(t, ns, "", "promote", "web"); r.code != exitBadInput {
		t.Errorf("promote with nothing running or pending: exit %d, want 3", r.code)
	}
	// A canary app rolls back as a rolling one does: at once, to the
	// release before.
	if r := cutover(t, ns, "", "rollback", "web"); r.code != exitOK {
		t.Fatalf("rollback: exit %d", r.code)
	}
	assertOnStable(t, ns, "tomcat:7")
}

// TestCanaryAbortMidStep: `cutover abort` ends a canary in progress: all
// traffic back on stable, the deploy exits 4, the record says rolled back.
func TestCanaryAbortMidStep(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	done := pausedCanary(t, ns)
	a := cutover(t, ns, "", "abort", "web", "--by", "oncall", "--comment", "errors up")
	if a.code != exitOK || !strings.Contains(a.stdout, "all traffic is back on stable") {
		t.Fatalf("abort: exit %d, want 0 saying traffic is back on stable", a.code)
	}
	if r := <-done; r.code != exitRolledBack || !strings.Contains(r.stderr, "abort requested by oncall: errors up") {
		t.Fatalf("the aborted canary: exit %d, want 4 naming who aborted", r.code)
	}
	assertOnStable(t, ns, "tomcat:7")
	st := cutover(t, ns, "", "status", "web")
	for _, want := range []string{"outcome:   rolled-back", "switch:    canary, 1 of 2 steps done, weight 50% (about 33% of requests by replicas)",
		"abort:     asked by oncall at ", ": errors up"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status does not say %q:\n%s", want, st.stdout)
		}
	}
	if rec := latestOf(t, ns, "web"); rec.Outcome != release.OutcomeRolledBack {
		t.Errorf("record outcome %s, want rolled-back", rec.Outcome)
	}
}

// TestCanaryFailedAnalysisAborts: a failing analysis step aborts; stable
// never changed.
func TestCanaryFailedAnalysisAborts(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	cfg := writeFile(t, "cutover.yaml", `strategy: canary
checks:
  - name: smoke
    command: {run: "echo canary failing; exit 1"}
    attempts: 1
canary:
  steps:
    - setWeight: 50
    - analysis: smoke
    - setWeight: 100
  scaleDownDelay: 1s
`)
	r := cutover(t, ns, "", "deploy", "-c", cfg, "-f", file, "--var", "TOMCAT_VERSION=8")
	if r.code != exitRolledBack || !strings.Contains(r.stderr, "Step 2/3: analysis smoke") && !strings.Contains(r.stdout, "Step 2/3: analysis smoke") {
		t.Fatalf("canary with a failing analysis: exit %d, want 4", r.code)
	}
	assertOnStable(t, ns, "tomcat:7")
	if rec := latestOf(t, ns, "web"); rec.Canary == nil || rec.Canary.Step != 1 {
		t.Errorf("record's canary progress %+v, want 1 step done", rec.Canary)
	}
}

// TestCanaryBadInputChangesNothing: steps, files and checks a canary
// cannot run are refused before any write.
func TestCanaryBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	two := writeFile(t, "two.yaml", plainApp+"---\n"+strings.ReplaceAll(strings.SplitN(plainApp, "---", 2)[0], "name: web\n", "name: web2\n"))
	noService := writeFile(t, "nosvc.yaml", strings.SplitN(plainApp, "---", 2)[0])
	elsewhere := writeFile(t, "elsewhere.yaml", strings.ReplaceAll(gatewayApp("gw"), "[{name: web, port: 80}]", "[{name: api, port: 80}]"))
	explicit := writeFile(t, "explicit.yaml", explicitApp("gw")+"---\napiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  selector: {app: api}\n  ports: [{port: 80}]\n")
	explicitElsewhere := writeFile(t, "explicit-elsewhere.yaml", strings.ReplaceAll(explicitApp("gw"),
		"[{name: web-primary, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}]", "[{name: api, port: 80}]"))
	notAJob := writeFile(t, "cutover.yaml", strings.ReplaceAll(jobMetricConfig, "JOBFILE", file))
	before := snapshot(t, ns)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a job metric whose file is not a Job", []string{"-f", file, "-c", notAJob}, exitBadInput,
			"metric smoke-test: job check " + file + ": want exactly one Job, found 2 objects"},
		{"weight over 100", []string{"-f", file, "--steps", "10,120"}, exitUsage, `step 2 ("120"): weight 120 is out of 0 to 100`},
		{"--route of a rolling update", []string{"-f", file, "--strategy", "rolling", "--route", "web"}, exitUsage, "--route: only with --strategy canary"},
		{"analysis of no check", []string{"-f", file, "--steps", "10,analysis=errors"}, exitBadInput, `step 2 runs the analysis "errors", and no check has that name`},
		{"two Deployments", []string{"-f", two, "--steps", "10"}, exitBadInput, "the files hold 2 Deployments; a canary release takes exactly one"},
		{"no Service", []string{"-f", noService, "--steps", "10"}, exitBadInput, "no Service in the files selects the pods of Deployment web"},
		{"--route of no route in the files", []string{"-f", file, "--steps", "10", "--route", "web"}, exitBadInput,
			"--route web: the files hold no HTTPRoute web"},
		{"a route that does not send to the app", []string{"-f", elsewhere, "--steps", "10", "--route", "web"}, exitBadInput,
			"HTTPRoute web: no rule's backendRefs name the app's Service ([web]), which selects the pods of Deployment web"},
		{"a named Service not in the files", []string{"-f", explicit, "--steps", "10", "--route", "web", "--stable-service", "web-primary", "--canary-service", "web-preview"},
			exitBadInput, "the files hold no Service web-preview, named as the canary Service"},
		{"a named Service that selects other pods", []string{"-f", explicit, "--steps", "10", "--route", "web", "--stable-service", "web-primary", "--canary-service", "api"},
			exitBadInput, "Service api (the canary Service) does not select the pods of Deployment web"},
		{"a route that sends to neither named Service", []string{"-f", explicitElsewhere, "--steps", "10", "--route", "web", "--stable-service", "web-primary", "--canary-service", "web-canary"},
			exitBadInput, "HTTPRoute web: no rule's backendRefs name Service web-primary or web-canary"},
		{"one named Service", []string{"-f", explicit, "--steps", "10", "--route", "web", "--stable-service", "web-primary"},
			exitUsage, "--stable-service and --canary-service: name both Services, or neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"deploy", "--strategy", "canary", "--var", "TOMCAT_VERSION=8"}, tc.args...)
			r := cutover(t, ns, "", args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q", r.code, tc.code, tc.want)
			}
		})
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("bad input changed the namespace:\nbefore %v\nafter  %v", before, after)
	}
}

// TestCanaryKilledMidStepResumes: a canary killed with SIGKILL while it
// waits at a pause leaves the canary at its weight; the rerun of the same
// release resumes at that pause, without taking the canary's pods away
// first, and is promoted.
func TestCanaryKilledMidStepResumes(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	steps := "50,pause,100"
	args := []string{"deploy", "--strategy", "canary", "-f", file, "--var", "TOMCAT_VERSION=8", "--steps", steps,
		"-o", "json", "--kubeconfig", cluster.Kubeconfig, "-n", ns}
	killAt(t, "Step 2/3: pause until promoted", args...)
	waitReadyPods(t, ns, "app=web,cutover.dev/track=canary", 1)

	done := make(chan result, 1)
	go func() { done <- canaryDeploy(t, ns, file, "8", "--steps", steps, "-o", "json") }()
	waitPaused(t, ns, 3, done) // not the killed run's revision 2, paused too
	if p := cutover(t, ns, "", "promote", "web"); p.code != exitOK {
		t.Fatalf("promote: exit %d", p.code)
	}
	r := <-done
	if r.code != exitOK {
		t.Fatalf("rerun: exit %d", r.code)
	}
	var stages []string
	canaryApplied := ""
	for _, ev := range jsonEvents(t, r.stdout) {
		switch {
		case ev["type"] == "stage.started":
			stages = append(stages, fmt.Sprint(ev["stage"]))
		case ev["type"] == "object.applied" && ev["stage"] == "Apply" && strings.Contains(fmt.Sprint(ev["object"]), "web-canary"):
			canaryApplied = fmt.Sprint(ev["action"])
		}
	}
	// The killed run did step 1 (50%): the rerun confirms it and waits at
	// step 2 again.
	want := []string{"Validate", "Apply", "Resume", "Step 2/3: pause until promoted", "Step 3/3: weight 100%", "Promote", "Scale Down"}
	if !slices.Equal(stages, want) {
		t.Errorf("rerun's stages %q, want %q", stages, want)
	}
	if canaryApplied != "unchanged" {
		t.Errorf("the rerun applied web-canary %q, want unchanged: its pods must stay", canaryApplied)
	}
	assertOnStable(t, ns, "tomcat:8")
	killed, err := release.NewStore(cluster.Client, ns).Get(context.Background(), "web", 2)
	if err != nil || killed.Outcome != release.OutcomeAborted || !strings.Contains(killed.Error, "interrupted") {
		t.Errorf("the killed run's record: %v; want it closed as interrupted", err)
	}
}

// TestCanaryAbortOfADeadRun: a canary whose run was killed at a pause
// (a CI job cancelled) leaves the canary serving; `cutover abort` finds
// the run gone (its lock is free to take) and aborts it itself, as the run
// would have: the canary scaled to zero, all traffic on stable, the record
// rolled back. It does not wait for a run that will never answer.
func TestCanaryAbortOfADeadRun(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	killAt(t, "Step 2/2: pause until promoted", "deploy", "--strategy", "canary", "-f", file, "--var", "TOMCAT_VERSION=8",
		"--steps", "50,pause", "-o", "json", "--kubeconfig", cluster.Kubeconfig, "-n", ns)
	waitReadyPods(t, ns, "app=web,cutover.dev/track=canary", 1)
	a := cutover(t, ns, "", "abort", "web", "--by", "oncall", "--timeout", "1m")
	if a.code != exitOK || !strings.Contains(a.stdout, "all traffic is back on stable") || !strings.Contains(a.stderr, "run is gone") {
		t.Fatalf("abort of a dead run: exit %d, want 0 saying it aborted the canary itself", a.code)
	}
	assertOnStable(t, ns, "tomcat:7")
	rec := latestOf(t, ns, "web")
	if rec.Revision != 2 || rec.Outcome != release.OutcomeRolledBack || !strings.Contains(rec.Error, "after its run had died") {
		t.Errorf("record: revision %d, outcome %s, %q; want revision 2 rolled back, saying its run had died", rec.Revision, rec.Outcome, rec.Error)
	}
}

// TestCanaryInconclusiveAnalysisWaitsForAPerson: an analysis whose
// provider cannot be reached is inconclusive: the canary never promotes on
// it, but pauses, tells people (the webhook names promote and abort), and
// goes on when someone promotes.
func TestCanaryInconclusiveAnalysisWaitsForAPerson(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := firstCanaryRelease(t, ns)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // a metrics server that is gone: connection refused
	told := make(chan map[string]any, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		select {
		case told <- m:
		default:
		}
	}))
	defer hook.Close()
	cfg := writeFile(t, "cutover.yaml", `strategy: canary
checks:
  - name: errors
    analysis:
      metrics:
        - name: error-rate
          web: {url: `+down.URL+`, jsonPath: '{.errors}'}
          interval: 100ms
          count: 3
          consecutiveErrorLimit: 2
          successCondition: result < 0.05
canary:
  steps:
    - setWeight: 50
    - analysis: errors
`)
	done := make(chan result, 1)
	go func() {
		done <- cutover(t, ns, "", "deploy", "-c", cfg, "-f", file, "--var", "TOMCAT_VERSION=8", "--scale-down-delay", "1s",
			"--notify-webhook", hook.URL)
	}()
	waitPaused(t, ns, 2, done)
	select {
	case m := <-told:
		if m["canary"] != "step 2 of 2, weight 50%" || !strings.Contains(fmt.Sprint(m["approve_command"]), "cutover promote web") ||
			!strings.Contains(fmt.Sprint(m["reject_command"]), "cutover abort web") {
			t.Errorf("webhook got %v, want the paused canary with promote and abort", m)
		}
	case <-time.After(10 * time.Second):
		t.Error("nobody was told that the canary waits")
	}
	if d := getDeployment(t, ns, "web"); d.Spec.Template.Spec.Containers[0].Image != "tomcat:7" {
		t.Errorf("an inconclusive analysis promoted: stable runs %s", d.Spec.Template.Spec.Containers[0].Image)
	}
	if r := cutover(t, ns, "", "promote", "web", "--by", "qa"); r.code != exitOK {
		t.Fatalf("promote: exit %d", r.code)
	}
	r := <-done
	if r.code != exitOK || !strings.Contains(r.stdout, "inconclusive") {
		t.Fatalf("the promoted canary: exit %d, want 0 after saying the analysis was inconclusive", r.code)
	}
	assertOnStable(t, ns, "tomcat:8")
}

// TestCanaryKilledInPromotionIsFinished: a canary killed once stable has
// the release (in Promote or Scale Down) leaves the canary's pods behind;
// the rerun finds stable on the release, nothing to compare, and takes
// them away.
func TestCanaryKilledInPromotionIsFinished(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"Promote", "Scale Down"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			file := firstCanaryRelease(t, ns)
			args := []string{"deploy", "--strategy", "canary", "-f", file, "--var", "TOMCAT_VERSION=8", "--steps", "50",
				"--scale-down-delay", "1m", "-o", "json", "--kubeconfig", cluster.Kubeconfig, "-n", ns}
			killAt(t, stage, args...)
			if c := getDeployment(t, ns, "web-canary"); c.Spec.Replicas == nil || *c.Spec.Replicas == 0 {
				t.Fatalf("killed at %s: the canary has no pods left to take away", stage)
			}
			r := canaryDeploy(t, ns, file, "8", "--steps", "50")
			if r.code != exitOK {
				t.Fatalf("rerun: exit %d", r.code)
			}
			// Killed in Scale Down, stable runs 8 already: the rerun only
			// takes the canary away. Killed as Promote starts, stable may
			// not have taken 8 yet: the rerun then resumes and promotes.
			if stage == "Scale Down" && !strings.Contains(r.stdout, "the canary still has pods from an earlier run") {
				t.Errorf("rerun after a kill in Scale Down did not say it takes the canary's pods away")
			}
			assertOnStable(t, ns, "tomcat:8")
		})
	}
}
