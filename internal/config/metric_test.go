package config

import (
	"testing"
	"time"
)

// TestAnalysisCheckDuration: an analysis check's one attempt lasts as long
// as its slowest metric can: initial delay, then each measurement's
// interval and up to 10 s of query, plus a minute.
func TestAnalysisCheckDuration(t *testing.T) {
	cases := []struct {
		name    string
		metrics []Metric
		want    time.Duration
	}{
		{"defaults: one measurement, 10s apart", []Metric{{Name: "a"}}, 20*time.Second + time.Minute},
		{"the slowest metric", []Metric{
			{Name: "fast", Interval: ptr(time.Second), Count: ptr(3)},
			{Name: "slow", Interval: ptr(30 * time.Second), Count: ptr(4), InitialDelay: ptr(time.Minute)},
		}, time.Minute + 4*40*time.Second + time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&AnalysisCheck{Metrics: tc.metrics}).Duration(); got != tc.want {
				t.Errorf("Duration() = %s, want %s", got, tc.want)
			}
		})
	}
}
