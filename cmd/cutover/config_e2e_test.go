package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// articleConfigHead is the start of a cutover.yaml that deploys the
// article's manifests blue/green.
func articleConfigHead(t *testing.T) string {
	t.Helper()
	files, err := filepath.Abs("../../examples/blue-green")
	if err != nil {
		t.Fatal(err)
	}
	return "app: tomcat\nstrategy: blue-green\nfiles: [" + files + "]\nblueGreen:\n  service: tomcat-service\n"
}

// blueGreenConfig writes a cutover.yaml for the article's manifests with a
// command check that appends "STAGE COLOR VERSION" to log at both stages.
func blueGreenConfig(t *testing.T, log string) string {
	t.Helper()
	return writeFile(t, "cutover.yaml", articleConfigHead(t)+`vars:
  TOMCAT_VERSION: "7"
checks:
  - name: smoke
    command:
      run: echo "$CUTOVER_STAGE $TARGET_ROLE $VERSION $APP" >> `+log+`
      env:
        VERSION: from-config
    attempts: 1
`)
}

func TestConfigFileDrivesBlueGreen(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	log := filepath.Join(t.TempDir(), "checks.log")
	cfg := blueGreenConfig(t, log)
	if r := cutover(t, ns, "", "deploy", "-c", cfg); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	// A flag wins over the file.
	if r := cutover(t, ns, "", "deploy", "-c", cfg, "--var", "TOMCAT_VERSION=8"); r.code != exitOK {
		t.Fatalf("second deploy exited %d", r.code)
	}
	assertProduction(t, ns, "green", "tomcat:8")
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	want := []string{"staged blue from-config tomcat", "prod blue from-config tomcat",
		"staged green from-config tomcat", "prod green from-config tomcat"}
	if !slices.Equal(got, want) {
		t.Errorf("command check ran as\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := cutover(t, ns, "", "status", "tomcat"); r.code != exitOK || !strings.Contains(r.stdout, "blue -> green") {
		t.Errorf("records are kept under the config's app name: exit %d\n%s", r.code, r.stdout)
	}
}

func TestConfigFileUnknownKey(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	cfg := writeFile(t, "cutover.yaml", "strategy: blue-green\nblueGreen:\n  service: web\n  colours: [a, b]\n")
	before := snapshot(t, ns)
	r := cutover(t, ns, "", "deploy", "-c", cfg)
	if r.code != exitBadInput || !strings.Contains(r.stderr, `"blueGreen.colours"`) || !strings.Contains(r.stderr, "line 4") {
		t.Fatalf("exit %d, stderr %q; want bad input naming the key and line", r.code, r.stderr)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("namespace changed: %v -> %v", before, after)
	}
}

func TestVerifyCommandFailureRollsBackProduction(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := blueGreen(t, ns, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	// Passes on the staged check, fails once production has switched.
	r := blueGreen(t, ns, "8", "--verify-command", `test "$CUTOVER_STAGE" = staged || { echo "prod smoke test failed for $TARGET_ROLE"; exit 3; }`,
		"--verify-attempts", "1")
	if r.code != exitRolledBack || !strings.Contains(r.stderr, "prod smoke test failed for green") {
		t.Fatalf("exit %d, stderr %q; want switched back with the command's output", r.code, r.stderr)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
}
