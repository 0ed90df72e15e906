package dashboard

import (
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/release"
)

// Chart geometry, in the SVG's own units.
const (
	chartWidth, chartHeight = 320.0, 64.0
	chartPad                = 6.0
)

// chart is one metric's measurements as a small server-drawn SVG: a point
// per measurement in order, its height the value (when the value is a
// number), its class the phase.
type chart struct {
	Metric   string
	Min, Max string // the values at the bottom and the top
	Line     string // the polyline's points
	Points   []chartPoint
}

type chartPoint struct {
	X, Y  string
	Phase string
	Title string // shown on hover: when, the stage, the value
}

// chartsOf draws the measurements of r, a chart per metric in the order
// they first appear.
func chartsOf(r *release.Record) []chart {
	var order []string
	by := map[string][]release.Measurement{}
	for _, m := range r.Measurements {
		if by[m.Metric] == nil {
			order = append(order, m.Metric)
		}
		by[m.Metric] = append(by[m.Metric], m)
	}
	out := make([]chart, 0, len(order))
	for _, name := range order {
		out = append(out, drawChart(name, by[name]))
	}
	return out
}

func drawChart(name string, ms []release.Measurement) chart {
	values := make([]float64, len(ms))
	numeric := make([]bool, len(ms))
	lo, hi, any := 0.0, 0.0, false
	for i, m := range ms {
		v, ok := valueOf(m.Value)
		values[i], numeric[i] = v, ok
		if ok && (!any || v < lo) {
			lo = v
		}
		if ok && (!any || v > hi) {
			hi = v
		}
		any = any || ok
	}
	c := chart{Metric: name, Min: format(lo), Max: format(hi)}
	var line []string
	for i, m := range ms {
		x := chartPad + (chartWidth-2*chartPad)*float64(i)/float64(max(len(ms)-1, 1))
		y := chartHeight - chartPad // a value that is not a number sits at the bottom
		if numeric[i] && hi > lo {
			y = chartHeight - chartPad - (chartHeight-2*chartPad)*(values[i]-lo)/(hi-lo)
		} else if numeric[i] {
			y = chartHeight / 2
		}
		p := chartPoint{X: format(x), Y: format(y), Phase: m.Phase,
			Title: m.Time.UTC().Format("15:04:05") + " " + m.Stage + ": " + m.Phase + ", " + m.Value}
		c.Points = append(c.Points, p)
		if numeric[i] {
			line = append(line, p.X+","+p.Y)
		}
	}
	c.Line = strings.Join(line, " ")
	return c
}

// valueOf reads the number of a recorded value, "result 0.02" or
// "result [0.02]"; false for anything else (an error's text, a map).
func valueOf(s string) (float64, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(s, "result "))
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func format(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
