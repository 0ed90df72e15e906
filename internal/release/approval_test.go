package release_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/cutover/cutover/internal/release"
)

func pending() *release.Approval { return &release.Approval{State: "pending"} }

// storedApproval reads the approval of a record straight from its ConfigMap.
func storedApproval(t *testing.T, ns, name string) map[string]any {
	t.Helper()
	var doc struct {
		Approval map[string]any `json:"approval"`
	}
	if err := json.Unmarshal([]byte(getConfigMap(t, ns, name).Data["record"]), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Approval
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name      string
		approvals []*release.Approval // of revisions 1, 2...
		approve   bool
		wantRev   int // 0: ErrNoPendingApproval
	}{
		{"no records", nil, true, 0},
		{"none asks for approval", []*release.Approval{nil, nil}, true, 0},
		{"already decided", []*release.Approval{{State: "approved", By: "carol"}}, true, 0},
		{"approve the one pending", []*release.Approval{pending(), nil}, true, 1},
		{"approve the newest pending", []*release.Approval{pending(), pending()}, true, 2},
		{"reject", []*release.Approval{nil, pending()}, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, ctx := cluster.Namespace(t), testCtx(t)
			s := release.NewStore(cluster.Client, ns)
			for _, a := range tt.approvals {
				create(t, s, &release.Record{App: "web", Approval: a})
			}
			before := time.Now()
			r, err := release.NewStore(cluster.Client, ns).Decide(ctx, "web", tt.approve, "alice", "looks good")
			if tt.wantRev == 0 {
				if !errors.Is(err, release.ErrNoPendingApproval) || !strings.Contains(err.Error(), "app web") {
					t.Fatalf("Decide: %v, want ErrNoPendingApproval naming app web", err)
				}
				assertApprovalsUnchanged(t, ns, tt.approvals, 0)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			state := map[bool]string{true: "approved", false: "rejected"}[tt.approve]
			if r.Revision != tt.wantRev || r.Approval.State != state || r.Approval.By != "alice" ||
				r.Approval.Comment != "looks good" || r.Approval.At.Before(before.Add(-time.Second)) {
				t.Errorf("Decide returned revision %d, approval %+v", r.Revision, r.Approval)
			}
			got := storedApproval(t, ns, "cutover-web-r"+itoa(tt.wantRev))
			if got["state"] != state || got["by"] != "alice" || got["comment"] != "looks good" || !strings.HasSuffix(got["at"].(string), "Z") {
				t.Errorf("stored approval %v", got)
			}
			assertApprovalsUnchanged(t, ns, tt.approvals, tt.wantRev)
		})
	}
}

// assertApprovalsUnchanged checks the stored approval of every revision but
// skip.
func assertApprovalsUnchanged(t *testing.T, ns string, approvals []*release.Approval, skip int) {
	t.Helper()
	for i, a := range approvals {
		if i+1 == skip {
			continue
		}
		got := storedApproval(t, ns, "cutover-web-r"+itoa(i+1))
		if (a == nil) != (got == nil) || (a != nil && got["state"] != a.State) {
			t.Errorf("revision %d: approval %v, want %+v", i+1, got, a)
		}
	}
}

func TestConcurrentDecidesDecideOnce(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	create(t, s, &release.Record{App: "web", Approval: pending()}) // an older run, still pending
	create(t, s, &release.Record{App: "web", Approval: pending()})
	var (
		wg    sync.WaitGroup
		errs  = make([]error, 4)
		start = make(chan struct{})
	)
	for i := range errs {
		wg.Go(func() {
			<-start
			_, errs[i] = release.NewStore(cluster.Client, ns).Decide(ctx, "web", true, "approver-"+itoa(i), "")
		})
	}
	close(start)
	wg.Wait()
	var won int
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, release.ErrNoPendingApproval):
			t.Errorf("losing Decide: %v, want ErrNoPendingApproval", err)
		}
	}
	// One wins revision 2. A Decide that lost the race for it fails rather
	// than fall back to revision 1; one that began after revision 2 was
	// decided may take revision 1, then the newest pending.
	if won != 1 && won != 2 {
		t.Fatalf("%d Decides succeeded", won)
	}
	r2, r1 := storedApproval(t, ns, "cutover-web-r2"), storedApproval(t, ns, "cutover-web-r1")
	if r2["state"] != "approved" {
		t.Errorf("revision 2: %v, want approved", r2)
	}
	if won == 2 && r1["state"] != "approved" || won == 1 && r1["state"] != "pending" {
		t.Errorf("%d Decides won, revision 1: %v", won, r1)
	}
}

func TestDecideKeepsFieldsOfNewerVersions(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	create(t, release.NewStore(cluster.Client, ns), &release.Record{App: "web", Approval: pending()})
	cms := cluster.Client.CoreV1().ConfigMaps(ns)
	cm := getConfigMap(t, ns, "cutover-web-r1")
	cm.Data["record"] = strings.Replace(cm.Data["record"], `"version":1,`, `"version":1,"canary":{"weight":10},`, 1)
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := release.NewStore(cluster.Client, ns).Decide(ctx, "web", true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	data := getConfigMap(t, ns, "cutover-web-r1").Data["record"]
	if !strings.Contains(data, `"canary":{"weight":10}`) || !strings.Contains(data, `"state":"approved"`) {
		t.Errorf("stored record after Decide: %s", data)
	}
}

func TestWaitForDecisionReturnsPromptlyWithoutPolling(t *testing.T) {
	for _, approve := range []bool{true, false} {
		t.Run(map[bool]string{true: "approved", false: "rejected"}[approve], func(t *testing.T) {
			ns, ctx := cluster.Namespace(t), testCtx(t)
			c, proxy := proxied(t)
			runner := release.NewStore(c, ns)
			r := create(t, runner, &release.Record{App: "web", Approval: pending()})
			type result struct {
				a   *release.Approval
				err error
				at  time.Time
			}
			done := make(chan result, 1)
			proxy.Reset()
			waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			go func() {
				a, err := runner.WaitForDecision(waitCtx, "web", r.Revision)
				done <- result{a, err, time.Now()}
			}()
			time.Sleep(3 * time.Second) // a poller would ask many times meanwhile
			requests := proxy.Breakdown()
			if proxy.Total() > 2 {
				t.Errorf("%d requests while waiting (%s), want one list and one watch", proxy.Total(), requests)
			}
			if !strings.Contains(requests, "WATCH 1") {
				t.Errorf("requests while waiting: %q, want one watch", requests)
			}
			// Another machine decides.
			if _, err := release.NewStore(cluster.Client, ns).Decide(ctx, "web", approve, "alice", "ok"); err != nil {
				t.Fatal(err)
			}
			decided := time.Now()
			select {
			case res := <-done:
				if res.err != nil {
					t.Fatal(res.err)
				}
				if lag := res.at.Sub(decided); lag > 2*time.Second {
					t.Errorf("WaitForDecision returned %s after Decide, want < 2s", lag)
				}
				want := map[bool]string{true: "approved", false: "rejected"}[approve]
				if res.a.State != want || res.a.By != "alice" || res.a.Comment != "ok" {
					t.Errorf("approval %+v, want %s by alice", res.a, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("WaitForDecision did not return 10s after Decide")
			}
		})
	}
}

func TestWaitForDecisionAlreadyDecided(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	create(t, s, &release.Record{App: "web", Approval: pending()})
	if _, err := s.Decide(ctx, "web", false, "bob", "not today"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a, err := s.WaitForDecision(ctx, "web", 1)
	if err != nil || a.State != "rejected" || a.By != "bob" {
		t.Errorf("WaitForDecision on a decided record: %+v, %v", a, err)
	}
}

func TestWaitForDecisionFails(t *testing.T) {
	tests := []struct {
		name     string
		revision int
		timeout  time.Duration
		wantErr  func(error) bool
	}{
		{"times out", 1, time.Second, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"missing record", 9, 10 * time.Second, func(err error) bool { return err != nil && strings.Contains(err.Error(), "not found") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := cluster.Namespace(t)
			s := release.NewStore(cluster.Client, ns)
			create(t, s, &release.Record{App: "web", Approval: pending()})
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			began := time.Now()
			a, err := s.WaitForDecision(ctx, "web", tt.revision)
			if a != nil || !tt.wantErr(err) {
				t.Errorf("WaitForDecision: %+v, %v", a, err)
			}
			if took := time.Since(began); took > tt.timeout+2*time.Second {
				t.Errorf("returned after %s, timeout %s", took, tt.timeout)
			}
			if got := storedApproval(t, ns, "cutover-web-r1"); got["state"] != "pending" {
				t.Errorf("stored approval %v, want still pending", got)
			}
		})
	}
}

func TestUpdateKeepsConcurrentApproval(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	runner := release.NewStore(cluster.Client, ns)
	r := create(t, runner, &release.Record{App: "web", Approval: pending()})
	// `cutover approve` on another machine, while the run goes on.
	if _, err := release.NewStore(cluster.Client, ns).Decide(ctx, "web", true, "alice", "go"); err != nil {
		t.Fatal(err)
	}
	r.Stages = append(r.Stages, release.Stage{Name: "verify", Status: "succeeded"})
	if err := runner.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Approval.State != "approved" || r.Approval.By != "alice" {
		t.Errorf("record after Update has approval %+v, want alice's", r.Approval)
	}
	got, err := runner.Get(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Approval == nil || got.Approval.State != "approved" || got.Approval.By != "alice" || got.Approval.Comment != "go" {
		t.Errorf("stored approval %+v, want alice's", got.Approval)
	}
	if len(got.Stages) != 1 || got.Stages[0].Name != "verify" {
		t.Errorf("stored stages %+v, want the runner's", got.Stages)
	}
}

func TestUpdateAfterUnrelatedChangeKeepsOwnApproval(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	r := create(t, s, &release.Record{App: "web"})
	// Someone labels the ConfigMap: a conflict, but no decision.
	cms := cluster.Client.CoreV1().ConfigMaps(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm := getConfigMap(t, ns, "cutover-web-r1")
		cm.Labels["team"] = "payments"
		_, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Approval = pending()
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := storedApproval(t, ns, "cutover-web-r1"); got["state"] != "pending" {
		t.Errorf("stored approval %v, want the runner's pending", got)
	}
	if cm := getConfigMap(t, ns, "cutover-web-r1"); cm.Labels["team"] != "payments" {
		t.Errorf("Update dropped another writer's label: %v", cm.Labels)
	}
}
