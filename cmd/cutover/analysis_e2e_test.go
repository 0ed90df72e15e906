package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// errorRates answers a color's error rate as JSON, /errors/COLOR: the
// color's own rate, or, once production selects that color, the rate its
// real traffic would show.
type errorRates struct {
	ns                 string
	staged, production map[string]float64
}

func (e *errorRates) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	color := strings.TrimPrefix(r.URL.Path, "/errors/")
	rate := e.staged[color]
	svc, err := cluster.Client.CoreV1().Services(e.ns).Get(r.Context(), "tomcat-service", metav1.GetOptions{})
	if err == nil && svc.Spec.Selector["role"] == color { // production selects it: its traffic is real
		rate = e.production[color]
	}
	fmt.Fprintf(w, `{"color": %q, "errors": %g}`, color, rate)
}

// analysisConfig is a blue/green cutover.yaml whose one check is a metric
// analysis of the color's error rate, at Verify Staged and Verify Prod.
func analysisConfig(t *testing.T, url string) string {
	t.Helper()
	return writeFile(t, "cutover.yaml", articleConfigHead(t)+`checks:
  - name: error rate
    analysis:
      metrics:
        - name: error-rate
          web:
            url: `+url+`/errors/{color}
            jsonPath: '{.errors}'
          interval: 100ms
          count: 3
          successCondition: result < 0.05
`)
}

// TestAnalysisGatesBlueGreen: a metric analysis decides a blue/green
// release before the switch (production untouched when it fails) and after
// it (switched back when it fails).
func TestAnalysisGatesBlueGreen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name               string
		staged, production float64 // green's error rate before and after the switch
		code               int
		prod, image        string
		failedAt           string // the stage of the failed measurements
	}{
		{"good before and after the switch", 0.01, 0.02, exitOK, "green", "tomcat:8", ""},
		{"bad before the switch: production untouched", 0.3, 0.3, exitFailed, "blue", "tomcat:7", "Verify Staged"},
		{"bad once it takes production's traffic: switched back", 0.01, 0.4, exitRolledBack, "blue", "tomcat:7", "Verify Prod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			rates := &errorRates{ns: ns, staged: map[string]float64{"blue": 0.01, "green": tc.staged},
				production: map[string]float64{"blue": 0.01, "green": tc.production}}
			srv := httptest.NewServer(rates)
			defer srv.Close()
			cfg := analysisConfig(t, srv.URL)
			if r := cutover(t, ns, "", "deploy", "-c", cfg, "--var", "TOMCAT_VERSION=7"); r.code != exitOK {
				t.Fatalf("deploy 7, its analysis passing: exit %d", r.code)
			}
			r := cutover(t, ns, "", "deploy", "-c", cfg, "--var", "TOMCAT_VERSION=8", "-o", "json")
			if r.code != tc.code {
				t.Fatalf("deploy 8: exit %d, want %d", r.code, tc.code)
			}
			assertProduction(t, ns, tc.prod, tc.image)
			var failed []string
			measured := 0
			for _, ev := range jsonEvents(t, r.stdout) {
				if ev["type"] != "analysis" || ev["object"] != "metric error-rate" {
					continue
				}
				measured++
				if ev["status"] == "failed" {
					failed = append(failed, fmt.Sprint(ev["stage"]))
				}
			}
			if measured == 0 {
				t.Error("no measurement reached the event stream")
			}
			if tc.failedAt == "" && len(failed) > 0 || tc.failedAt != "" && (len(failed) == 0 || failed[0] != tc.failedAt) {
				t.Errorf("failed measurements at %v, want the first at %q", failed, tc.failedAt)
			}
			assertAnalysisRecorded(t, ns, tc.failedAt)
		})
	}
}

// assertAnalysisRecorded checks that the release's record keeps its
// measurements: cutover status sums them up by stage and metric, and
// shows the failed ones at failedAt.
func assertAnalysisRecorded(t *testing.T, ns, failedAt string) {
	t.Helper()
	st := cutover(t, ns, "", "status", "tomcat")
	_, summary, found := strings.Cut(st.stdout, "analysis:\n")
	if st.code != exitOK || !found || !strings.Contains(summary, "Verify Staged  error-rate") {
		t.Fatalf("status: exit %d, want an analysis summary:\n%s", st.code, st.stdout)
	}
	if failedAt == "" {
		if strings.Contains(summary, "failed") {
			t.Errorf("no measurement failed, yet status says:\n%s", summary)
		}
		return
	}
	for _, line := range strings.Split(summary, "\n") {
		if strings.Contains(line, failedAt) && strings.Contains(line, "failed; last: result") {
			return
		}
	}
	t.Errorf("status shows no failed measurement at %s:\n%s", failedAt, summary)
}
