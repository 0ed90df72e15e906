package main

import (
	"slices"
	"strings"
	"testing"
)

func TestRollbackApp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy   string
		wantCode int
		wantProd string // color and image after the rollback
		wantImg  string
	}{
		{"keep", exitOK, "blue", "tomcat:7"},
		{"scale-down", exitOK, "blue", "tomcat:7"},
		{"update", exitBadInput, "green", "tomcat:8"}, // blue runs 8 too: nothing to go back to
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			if r := blueGreen(t, ns, "7"); r.code != exitOK {
				t.Fatalf("first deploy exited %d", r.code)
			}
			if r := blueGreen(t, ns, "8", "--idle-policy", tc.policy, "--scale-down-delay", "100ms"); r.code != exitOK {
				t.Fatalf("second deploy exited %d", r.code)
			}
			before := snapshot(t, ns)
			r := cutover(t, ns, "", "rollback", "tomcat-service")
			if r.code != tc.wantCode {
				t.Fatalf("rollback exited %d, want %d", r.code, tc.wantCode)
			}
			assertProduction(t, ns, tc.wantProd, tc.wantImg)
			if tc.wantCode != exitOK {
				if !strings.Contains(r.stderr, "not the previous release") {
					t.Errorf("refusal should say why: %s", r.stderr)
				}
				if after := snapshot(t, ns); !slices.Equal(before, after) {
					t.Errorf("a refused rollback changed the namespace: %v -> %v", before, after)
				}
				return
			}
			rec := latestRecord(t, ns)
			if rec.Strategy != "rollback" || rec.FromColor != "green" || rec.ToColor != "blue" || rec.Outcome != "succeeded" {
				t.Errorf("rollback record: %+v", rec)
			}
			// Rolling back again returns to green, the release rolled back from.
			if r := cutover(t, ns, "", "rollback", "tomcat-service"); r.code != exitOK {
				t.Fatalf("second rollback exited %d", r.code)
			}
			if tc.policy == "keep" {
				assertProduction(t, ns, "green", "tomcat:8")
			}
		})
	}
}
