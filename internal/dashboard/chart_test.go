package dashboard

import (
	"testing"

	"github.com/cutover/cutover/internal/release"
)

func TestChartsOf(t *testing.T) {
	r := &release.Record{Measurements: []release.Measurement{
		{Metric: "error-share", Phase: "successful", Value: "result [0]"},
		{Metric: "latency", Phase: "error", Value: "prometheus: connection refused"},
		{Metric: "error-share", Phase: "successful", Value: "result [0.005]"},
		{Metric: "error-share", Phase: "failed", Value: "result [0.02]"},
	}}
	charts := chartsOf(r)
	if len(charts) != 2 || charts[0].Metric != "error-share" || charts[1].Metric != "latency" {
		t.Fatalf("charts %+v, want error-share then latency", charts)
	}
	share := charts[0]
	// The lowest value at the bottom (64 - 6), the highest at the top (6),
	// left to right from 6 to 314.
	want := []chartPoint{{X: "6", Y: "58", Phase: "successful"}, {X: "160", Y: "45", Phase: "successful"}, {X: "314", Y: "6", Phase: "failed"}}
	if len(share.Points) != len(want) || share.Min != "0" || share.Max != "0.02" || share.Line != "6,58 160,45 314,6" {
		t.Fatalf("error-share chart %+v", share)
	}
	for i, p := range share.Points {
		if p.X != want[i].X || p.Y != want[i].Y || p.Phase != want[i].Phase {
			t.Errorf("point %d: %+v, want %+v", i, p, want[i])
		}
	}
	// A value that is not a number: a point at the bottom, no line.
	if lat := charts[1]; len(lat.Points) != 1 || lat.Points[0].Y != "58" || lat.Points[0].Phase != "error" || lat.Line != "" {
		t.Errorf("latency chart %+v", lat)
	}
}

func TestValueOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"result 0.25", 0.25, true},
		{"result [0.02]", 0.02, true},
		{"result [0.1 0.2]", 0, false},
		{"result map[succeeded:true]", 0, false},
		{"connection refused", 0, false},
	} {
		if got, ok := valueOf(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("valueOf(%q) = %g, %v; want %g, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
