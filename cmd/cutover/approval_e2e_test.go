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

	"github.com/cutover/cutover/internal/release"
)

// latestRecord reads the app's newest release record.
func latestRecord(t *testing.T, ns string) *release.Record {
	t.Helper()
	r, err := release.NewStore(cluster.Client, ns).Latest(context.Background(), "tomcat-service")
	if err != nil || r == nil {
		t.Fatalf("latest record: %v, %v", r, err)
	}
	return r
}

// decideWhenPending runs `cutover approve|reject` as soon as a release
// waits for approval: it retries while the answer is "nothing pending".
func decideWhenPending(t *testing.T, ns, verb string) result {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := cutover(t, ns, "", verb, "tomcat-service", "--by", "alice", "--comment", "checked")
		if r.code != exitBadInput || time.Now().After(deadline) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBlueGreenApproval(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		decide    string // approve, reject, or "" to let the approval time out
		wantCode  int
		wantColor string
		wantState string
		wantOut   string
	}{
		{"approved", "approve", exitOK, "green", release.ApprovalApproved, "succeeded"},
		{"rejected", "reject", exitFailed, "blue", release.ApprovalRejected, "aborted"},
		{"timed out", "", exitTimeout, "blue", release.ApprovalExpired, "failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			if r := blueGreen(t, ns, "7"); r.code != exitOK {
				t.Fatalf("first deploy exited %d", r.code)
			}
			before := prodEndpoints(t, ns)
			done := make(chan result, 1)
			go func() {
				done <- blueGreen(t, ns, "8", "--approval", "manual", "--approval-timeout", "3s")
			}()
			if tc.decide != "" {
				if d := decideWhenPending(t, ns, tc.decide); d.code != exitOK {
					t.Fatalf("%s exited %d", tc.decide, d.code)
				}
			}
			r := <-done
			if r.code != tc.wantCode {
				t.Fatalf("deploy exited %d, want %d", r.code, tc.wantCode)
			}
			if tc.wantColor == "blue" {
				assertProduction(t, ns, "blue", "tomcat:7")
				if after := prodEndpoints(t, ns); !slices.Equal(before, after) {
					t.Errorf("production endpoints changed: %v -> %v", before, after)
				}
			} else {
				assertProduction(t, ns, "green", "tomcat:8")
			}
			rec := latestRecord(t, ns)
			if rec.Approval == nil || rec.Approval.State != tc.wantState || rec.Outcome != tc.wantOut {
				t.Fatalf("record: approval %+v outcome %s; want %s, %s", rec.Approval, rec.Outcome, tc.wantState, tc.wantOut)
			}
			if tc.decide != "" && (rec.Approval.By != "alice" || rec.Approval.Comment != "checked" || rec.Approval.At.IsZero()) {
				t.Errorf("record does not say who decided and when: %+v", rec.Approval)
			}
		})
	}
}

func TestApproveWithNothingPending(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	before := snapshot(t, ns)
	r := cutover(t, ns, "", "approve", "tomcat-service")
	if r.code != exitBadInput || !strings.Contains(r.stderr, "no release is waiting for approval") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("namespace changed: %v -> %v", before, after)
	}
}

func TestBlueGreenLockRefusesSecondRun(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lock, err := release.Acquire(ctx, cluster.Client, ns, "tomcat-service", release.LockOptions{Holder: "ci-7/pid 1 (jenkins-web-42)"})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ns)
	r := blueGreen(t, ns, "8")
	if r.code != exitBadInput || !strings.Contains(r.stderr, "ci-7/pid 1 (jenkins-web-42)") || !strings.Contains(r.stderr, "since") {
		t.Fatalf("exit %d, stderr %q; want a refusal naming the holder and since when", r.code, r.stderr)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("namespace changed: %v -> %v", before, after)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if r := blueGreen(t, ns, "8"); r.code != exitOK {
		t.Fatalf("after release of the lock: exit %d", r.code)
	}
	assertProduction(t, ns, "green", "tomcat:8")
}

func TestStatusAndHistory(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	for _, v := range []string{"7", "8"} {
		if r := blueGreen(t, ns, v); r.code != exitOK {
			t.Fatalf("deploy %s exited %d", v, r.code)
		}
	}
	st := cutover(t, ns, "", "status", "tomcat-service", "-o", "json")
	if st.code != exitOK {
		t.Fatalf("status exited %d", st.code)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(st.stdout), &got); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	if got["revision"] != 2.0 || got["fromColor"] != "blue" || got["toColor"] != "green" || got["outcome"] != "succeeded" {
		t.Errorf("status: %v", got)
	}
	h := cutover(t, ns, "", "history", "tomcat-service")
	lines := strings.Split(strings.TrimSpace(h.stdout), "\n")
	if h.code != exitOK || len(lines) != 3 || !strings.HasPrefix(lines[1], "2 ") || !strings.Contains(lines[1], "blue -> green") ||
		!strings.Contains(lines[2], "tomcat:7") {
		t.Errorf("history exit %d:\n%s", h.code, h.stdout)
	}
	for _, stage := range []string{"Check Env", "Deploy", "Verify Staged", "Confirm", "Switch", "Verify Prod", "Post"} {
		if !strings.Contains(cutover(t, ns, "", "status", "tomcat-service").stdout, stage) {
			t.Errorf("status does not list stage %s", stage)
		}
	}
}

func TestApprovalNotifiesWebhook(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg map[string]any
		_ = json.NewDecoder(r.Body).Decode(&msg)
		got <- msg
	}))
	defer srv.Close()
	done := make(chan result, 1)
	go func() {
		done <- blueGreen(t, ns, "8", "--approval", "manual", "--notify-webhook", srv.URL+"/hooks/T000/SECRET")
	}()
	var msg map[string]any
	select {
	case msg = <-got:
	case <-time.After(time.Minute):
		t.Fatal("no notification")
	}
	text := fmt.Sprint(msg["text"])
	for _, want := range []string{"tomcat-service", "blue", "green", "tomcat:8", "cutover approve tomcat-service -n " + ns} {
		if !strings.Contains(text, want) {
			t.Errorf("notification text lacks %q:\n%s", want, text)
		}
	}
	if d := decideWhenPending(t, ns, "approve"); d.code != exitOK {
		t.Fatalf("approve exited %d", d.code)
	}
	if r := <-done; r.code != exitOK || strings.Contains(r.stdout+r.stderr, "SECRET") {
		t.Fatalf("deploy exited %d (or printed the webhook's secret path)", r.code)
	}
	assertProduction(t, ns, "green", "tomcat:8")
}
