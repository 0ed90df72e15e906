package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/testinfra/gobuild"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// cutoverBinary builds the command once, for tests that must kill it.
func cutoverBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cutover-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "cutover")
		binaryErr = gobuild.Build(context.Background(), gobuild.Options{Package: ".", Out: binaryPath})
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// killAt runs cutover as a process and kills it with SIGKILL as soon as it
// reports that stage has started. It fails the test if the run ends first.
func killAt(t *testing.T, stage string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cutoverBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var ev struct{ Type, Stage string }
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "stage.started" && ev.Stage == stage {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			t.Logf("killed at %s", stage)
			return
		}
	}
	_ = cmd.Wait()
	t.Fatalf("the run ended before stage %s started", stage)
}

func TestBlueGreenKillAndRerun(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(50 * time.Millisecond) // a check that takes a moment, like a real one
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	cases := []struct {
		stage    string
		extra    []string // only for the killed run
		switched bool     // production may already be on green when killed
	}{
		{"Deploy", nil, false},
		{"Verify Staged", nil, false},
		{"Confirm", []string{"--approval", "manual"}, false},
		{"Switch", nil, true},
		{"Verify Prod", nil, true},
		{"Post", []string{"--idle-policy", "scale-down", "--scale-down-delay", "1m"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.stage, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			if r := blueGreen(t, ns, "7"); r.code != exitOK {
				t.Fatalf("first deploy exited %d", r.code)
			}
			args := []string{"deploy", "--strategy", "blue-green", "-f", "../../examples/blue-green/", "--service", "tomcat-service",
				"--var", "TOMCAT_VERSION=8", "--verify-url", srv.URL + "/{color}", "--verify-attempts", "1", "-o", "json",
				"--kubeconfig", cluster.Kubeconfig, "-n", ns}
			killAt(t, tc.stage, append(args, tc.extra...)...)
			assertNeverHalfDeployed(t, ns)

			r := blueGreen(t, ns, "8", "--verify-url", srv.URL+"/{color}", "--verify-attempts", "1")
			if r.code != exitOK {
				t.Fatalf("rerun exited %d", r.code)
			}
			assertProduction(t, ns, "green", "tomcat:8")
			if tc.switched {
				// Resumed, not released again to blue: blue still runs 7
				// (or was scaled down by the killed run's Post).
				if img := getDeployment(t, ns, "tomcat-deployment-blue").Spec.Template.Spec.Containers[0].Image; img != "tomcat:7" {
					t.Errorf("blue runs %s after the rerun, want tomcat:7 (the rerun must resume, not release again)", img)
				}
			}
			assertInterruptedRecordClosed(t, ns)
		})
	}
}

// assertNeverHalfDeployed checks that production selects a color whose pods
// are all ready.
func assertNeverHalfDeployed(t *testing.T, ns string) {
	t.Helper()
	color := prodColor(t, ns)
	d := getDeployment(t, ns, "tomcat-deployment-"+color)
	if d.Status.ReadyReplicas != *d.Spec.Replicas || d.Status.UpdatedReplicas != *d.Spec.Replicas {
		t.Errorf("after the kill production selects %s with %d/%d ready, %d updated", color,
			d.Status.ReadyReplicas, *d.Spec.Replicas, d.Status.UpdatedReplicas)
	}
}

// assertInterruptedRecordClosed checks that the killed run's record, if it
// had one, no longer claims to be running.
func assertInterruptedRecordClosed(t *testing.T, ns string) {
	t.Helper()
	recs, err := release.NewStore(cluster.Client, ns).List(context.Background(), "tomcat-service")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Outcome == release.OutcomeRunning {
			t.Errorf("revision %d still says running", r.Revision)
		}
		if r.Approval != nil && r.Approval.State == release.ApprovalPending {
			t.Errorf("revision %d still waits for approval", r.Revision)
		}
	}
	if recs[0].Outcome != release.OutcomeSucceeded {
		t.Errorf("latest record %d: %s, want succeeded", recs[0].Revision, recs[0].Outcome)
	}
}
