package dashboard

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

// TestMetrics: /metrics describes the records: releases by app, strategy
// and outcome, their and their stages' durations, the apps waiting for a
// person, the analysis measurements.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	stage := func(name string, secs int) release.Stage {
		return release.Stage{Name: name, Status: release.StageSucceeded, Started: t0, Finished: t0.Add(time.Duration(secs) * time.Second)}
	}
	store := release.NewStore(cluster.Client, ns)
	for _, r := range []*release.Record{
		{App: "shop", Strategy: engine.BlueGreen, Outcome: release.OutcomeSucceeded, Started: t0, Finished: t0.Add(40 * time.Second),
			Stages: []release.Stage{stage("Deploy", 20), stage("Switch", 2)}},
		{App: "shop", Strategy: engine.BlueGreen, Outcome: release.OutcomeRolledBack, Started: t0, Finished: t0.Add(200 * time.Second),
			Stages: []release.Stage{stage("Deploy", 25), stage("Switch", 1)}},
		{App: "shop", Strategy: engine.BlueGreen, Outcome: release.OutcomeRunning, Started: t0,
			Approval: &release.Approval{State: release.ApprovalPending}},
		{App: "api", Strategy: engine.Canary, Outcome: release.OutcomeSucceeded, Started: t0, Finished: t0.Add(3 * time.Second),
			Measurements: []release.Measurement{{Metric: "error-share", Phase: "successful"}, {Metric: "error-share", Phase: "successful"}, {Metric: "error-share", Phase: "failed"}}},
	} {
		if err := store.Create(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	srv := newDashboard(t, clientsFor(t, ns), "alice")
	if _, page := get(t, srv.URL+appPath(ns, "api")); strings.Count(page, `<circle class="point phase-`) != 3 || !strings.Contains(page, `phase-failed`) {
		t.Errorf("the canary's page does not chart its 3 measurements, one failed:\n%s", page)
	}
	families := scrape(t, srv.URL+"/metrics")
	cases := []struct {
		family string
		labels map[string]string
		want   float64 // the value; a histogram's count
		sum    float64 // a histogram's sum
	}{
		{"cutover_releases", map[string]string{"app": "shop", "strategy": "blue-green", "outcome": "succeeded"}, 1, 0},
		{"cutover_releases", map[string]string{"app": "shop", "strategy": "blue-green", "outcome": "rolled-back"}, 1, 0},
		{"cutover_releases", map[string]string{"app": "shop", "strategy": "blue-green", "outcome": "running"}, 1, 0},
		{"cutover_releases", map[string]string{"app": "api", "strategy": "canary", "outcome": "succeeded"}, 1, 0},
		{"cutover_pending_approvals", map[string]string{"app": "shop"}, 1, 0},
		{"cutover_pending_approvals", map[string]string{"app": "api"}, 0, 0},
		{"cutover_release_duration_seconds", map[string]string{"app": "shop", "strategy": "blue-green"}, 2, 240},
		{"cutover_stage_duration_seconds", map[string]string{"app": "shop", "stage": "Switch"}, 2, 3},
		{"cutover_analysis_measurements", map[string]string{"app": "api", "metric": "error-share", "phase": "successful"}, 2, 0},
		{"cutover_analysis_measurements", map[string]string{"app": "api", "metric": "error-share", "phase": "failed"}, 1, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.family, tc.labels), func(t *testing.T) {
			tc.labels["namespace"] = ns
			m := find(families[tc.family], tc.labels)
			switch {
			case m == nil:
				t.Fatalf("no %s%v in /metrics", tc.family, tc.labels)
			case m.Histogram != nil:
				if got := m.Histogram.GetSampleCount(); float64(got) != tc.want || m.Histogram.GetSampleSum() != tc.sum {
					t.Errorf("count %d, sum %g; want %g, %g", got, m.Histogram.GetSampleSum(), tc.want, tc.sum)
				}
			case m.GetGauge().GetValue() != tc.want:
				t.Errorf("%g, want %g", m.GetGauge().GetValue(), tc.want)
			}
		})
	}
}

// scrape reads url in Prometheus' text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapeFrom(t, http.DefaultClient, url)
}

// scrapeFrom is scrape through client.
func scrapeFrom(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// find returns the metric of f with exactly these labels.
func find(f *dto.MetricFamily, labels map[string]string) *dto.Metric {
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if maps.Equal(got, labels) {
			return m
		}
	}
	return nil
}
