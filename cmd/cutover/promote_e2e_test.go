package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cutover/cutover/internal/release"
)

// staged releases 7, then stages 8 with --until confirm: green deployed and
// verified, production on blue.
func staged(t *testing.T, ns string, extra ...string) {
	t.Helper()
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("deploy 7: exit %d", r.code)
	}
	r := blueGreen(t, ns, "8", append([]string{"--until", "confirm"}, extra...)...)
	if r.code != exitOK {
		t.Fatalf("deploy 8 --until confirm: exit %d", r.code)
	}
	if res := resultEvent(t, r.stdout); res["status"] != "pending" {
		t.Errorf("result %v, want status pending", res)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	if ready := readyPods(t, ns, "role=green"); len(ready) != 2 {
		t.Errorf("green's ready pods %v, want 2", ready)
	}
	rec := latestRecord(t, ns)
	if rec.Revision != 2 || rec.Outcome != release.OutcomePending || rec.Staged == nil || rec.ToColor != "green" {
		t.Fatalf("record: revision %d, outcome %s, staged %+v, to %s; want 2, pending, staged, green", rec.Revision, rec.Outcome, rec.Staged, rec.ToColor)
	}
}

// resultEvent is the result event of -o json output.
func resultEvent(t *testing.T, out string) map[string]any {
	t.Helper()
	for _, e := range jsonEvents(t, out) {
		if e["type"] == "result" {
			return e
		}
	}
	t.Fatalf("no result event in %s", out)
	return nil
}

// endState is what a blue/green release leaves: production's color, and
// each Deployment's image and replicas.
func endState(t *testing.T, ns string) []string {
	t.Helper()
	out := []string{"production " + prodColor(t, ns)}
	list, err := cluster.Client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list.Items {
		out = append(out, fmt.Sprintf("%s %s x%d", d.Name, d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas))
	}
	slices.Sort(out)
	return out
}

// TestUntilConfirmThenPromote: a release staged with --until confirm, then
// promoted by another command, ends as the same release run in one go, on
// the record of the staged run; a deploy meanwhile is refused.
func TestUntilConfirmThenPromote(t *testing.T) {
	t.Parallel()
	idle := []string{"--idle-policy", "scale-down", "--scale-down-delay", "1s"}
	ns := cluster.Namespace(t)
	staged(t, ns, idle...)
	if r := blueGreen(t, ns, "9"); r.code != exitBadInput || !strings.Contains(r.stderr, "waits for a promote") {
		t.Errorf("deploy 9 while 8 is pending: exit %d, %q; want 3 naming the pending release", r.code, r.stderr)
	}
	p := cutover(t, ns, "", "promote", "tomcat-service", "--by", "jenkins-approver", "--comment", "checked", "-o", "json")
	if p.code != exitOK {
		t.Fatalf("promote: exit %d", p.code)
	}
	assertProduction(t, ns, "green", "tomcat:8")
	rec := latestRecord(t, ns)
	if rec.Revision != 2 || rec.Outcome != release.OutcomeSucceeded || rec.Approval == nil ||
		rec.Approval.State != release.ApprovalApproved || rec.Approval.By != "jenkins-approver" {
		t.Errorf("record after promote: revision %d, outcome %s, approval %+v; want 2, succeeded, approved by jenkins-approver",
			rec.Revision, rec.Outcome, rec.Approval)
	}

	oneShot := cluster.Namespace(t)
	for _, v := range []string{"7", "8"} {
		if r := blueGreen(t, oneShot, v, idle...); r.code != exitOK {
			t.Fatalf("one-shot deploy %s: exit %d", v, r.code)
		}
	}
	if got, want := endState(t, ns), endState(t, oneShot); !slices.Equal(got, want) {
		t.Errorf("staged then promoted: %v; in one go: %v", got, want)
	}
}

// TestAbortLeavesProductionUntouched: abort ends the pending release with
// production as it was; a promote after it is refused, and the next deploy
// goes ahead.
func TestAbortLeavesProductionUntouched(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	staged(t, ns)
	prod, err := cluster.Client.CoreV1().Services(ns).Get(context.Background(), "tomcat-service", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := cutover(t, ns, "", "abort", "tomcat-service", "--by", "jenkins-approver"); r.code != exitOK {
		t.Fatalf("abort: exit %d", r.code)
	}
	after, err := cluster.Client.CoreV1().Services(ns).Get(context.Background(), "tomcat-service", metav1.GetOptions{})
	if err != nil || after.ResourceVersion != prod.ResourceVersion {
		t.Errorf("production service changed by the abort: %v, version %s -> %s", err, prod.ResourceVersion, after.ResourceVersion)
	}
	rec := latestRecord(t, ns)
	if rec.Outcome != release.OutcomeAborted || rec.Approval == nil || rec.Approval.State != release.ApprovalRejected {
		t.Errorf("record after abort: outcome %s, approval %+v; want aborted, rejected", rec.Outcome, rec.Approval)
	}
	if r := cutover(t, ns, "", "promote", "tomcat-service"); r.code != exitBadInput {
		t.Errorf("promote after abort: exit %d, want 3", r.code)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	if r := blueGreen(t, ns, "9"); r.code != exitOK {
		t.Fatalf("deploy 9 after the abort: exit %d", r.code)
	}
	assertProduction(t, ns, "green", "tomcat:9")
}

// TestPromoteRefusesAChangedColor: a promote refuses, exit 3, production
// untouched and the release still pending, while a staged pod is leaving,
// and after the staged pod template changed; once the color is whole
// again, it goes ahead.
func TestPromoteRefusesAChangedColor(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	staged(t, ns)
	ctx := context.Background()
	pods := readyPods(t, ns, "role=green")
	hold := []byte(`{"metadata":{"finalizers":["cutover.dev/test-hold"]}}`)
	if _, err := cluster.Client.CoreV1().Pods(ns).Patch(ctx, pods[0], types.MergePatchType, hold, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.CoreV1().Pods(ns).Delete(ctx, pods[0], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	refused(t, ns, pods[0])
	release := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := cluster.Client.CoreV1().Pods(ns).Patch(ctx, pods[0], types.MergePatchType, release, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReadyPods(t, ns, "role=green", 2)

	edit := []byte(`{"spec":{"template":{"metadata":{"annotations":{"edited":"by hand"}}}}}`)
	if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(ctx, "tomcat-deployment-green", types.MergePatchType, edit, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	refused(t, ns, "pod template")
}

// refused runs a promote that must be refused naming what, leaving
// production on blue and the release pending.
func refused(t *testing.T, ns, what string) {
	t.Helper()
	r := cutover(t, ns, "", "promote", "tomcat-service")
	if r.code != exitBadInput || !strings.Contains(r.stderr, what) {
		t.Errorf("promote: exit %d, %q; want 3 naming %s", r.code, r.stderr, what)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	if rec := latestRecord(t, ns); rec.Outcome != release.OutcomePending {
		t.Errorf("after a refused promote the record is %s, want still pending", rec.Outcome)
	}
}

// waitReadyPods waits until selector selects n ready pods, none leaving.
func waitReadyPods(t *testing.T, ns, selector string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(readyPods(t, ns, selector)) != n || len(podNames(t, ns, selector)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: ready pods %v, want %d", selector, readyPods(t, ns, selector), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func podNames(t *testing.T, ns, selector string) []string {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Name)
	}
	return out
}

// TestConcurrentPromotes: of two promotes at once, one switches production
// and the other is refused.
func TestConcurrentPromotes(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	staged(t, ns)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Go(func() { codes[i] = cutover(t, ns, "", "promote", "tomcat-service").code })
	}
	wg.Wait()
	slices.Sort(codes)
	if !slices.Equal(codes, []int{exitOK, exitBadInput}) {
		t.Errorf("exit codes %v, want one 0 and one 3", codes)
	}
	assertProduction(t, ns, "green", "tomcat:8")
	if rec := latestRecord(t, ns); rec.Revision != 2 || rec.Outcome != release.OutcomeSucceeded {
		t.Errorf("record: revision %d, outcome %s; want 2, succeeded", rec.Revision, rec.Outcome)
	}
}

// TestPendingReleaseExpires: after --approval-timeout a pending release
// can no longer be promoted; it is recorded as aborted, and the next
// deploy goes ahead.
func TestPendingReleaseExpires(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	staged(t, ns, "--approval-timeout", "2s")
	time.Sleep(2500 * time.Millisecond)
	if r := cutover(t, ns, "", "promote", "tomcat-service"); r.code != exitBadInput || !strings.Contains(r.stderr, "expired") {
		t.Errorf("promote after expiry: exit %d, %q; want 3, expired", r.code, r.stderr)
	}
	if rec := latestRecord(t, ns); rec.Outcome != release.OutcomeAborted || !strings.Contains(rec.Error, "expired") {
		t.Errorf("record: outcome %s, error %q; want aborted, expired", rec.Outcome, rec.Error)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	if r := blueGreen(t, ns, "9"); r.code != exitOK {
		t.Fatalf("deploy 9 after the expiry: exit %d", r.code)
	}
}

// TestUntilConfirmNotifies: with --approval manual, a release staged with
// --until confirm tells the approvers how to promote or abort it, and
// waits for nobody.
func TestUntilConfirmNotifies(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var msg map[string]any
		_ = json.NewDecoder(r.Body).Decode(&msg)
		got <- msg
	}))
	defer srv.Close()
	staged(t, ns, "--approval", "manual", "--notify-webhook", srv.URL)
	select {
	case msg := <-got:
		text := fmt.Sprint(msg["text"])
		for _, want := range []string{"cutover promote tomcat-service -n " + ns, "cutover abort tomcat-service -n " + ns, "green"} {
			if !strings.Contains(text, want) {
				t.Errorf("notification text lacks %q:\n%s", want, text)
			}
		}
	default:
		t.Fatal("no notification by the time the staged run returned")
	}
}
