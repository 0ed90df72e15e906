package config

import (
	"time"

	"github.com/cutover/cutover/internal/analysis"
)

// Analysis returns the metric as package analysis runs it, with fill
// applied to its query, URL and command (the check's {color}).
func (m Metric) Analysis(fill func(string) string) analysis.Metric {
	out := analysis.Metric{Name: m.Name, Provider: m.provider(fill), Count: 1,
		SuccessCondition: m.SuccessCondition, FailureCondition: m.FailureCondition}
	Use(&out.Interval, m.Interval, false)
	Use(&out.Count, m.Count, false)
	Use(&out.InitialDelay, m.InitialDelay, false)
	Use(&out.FailureLimit, m.FailureLimit, false)
	Use(&out.InconclusiveLimit, m.InconclusiveLimit, false)
	Use(&out.ConsecutiveErrorLimit, m.ConsecutiveErrorLimit, false)
	return out
}

func (m Metric) provider(fill func(string) string) analysis.Provider {
	switch {
	case m.Prometheus != nil:
		return &analysis.Prometheus{Address: fill(m.Prometheus.Address), Query: fill(m.Prometheus.Query)}
	case m.Web != nil:
		return &analysis.Web{URL: fill(m.Web.URL), Headers: m.Web.Headers, JSONPath: m.Web.JSONPath}
	case m.Command != nil:
		return &analysis.Command{Run: fill(m.Command.Run)}
	}
	return nil
}

// Duration bounds an analysis check's one attempt: every metric's initial
// delay and its measurements, each given up to 10 s, plus a minute.
func (a *AnalysisCheck) Duration() time.Duration {
	var most time.Duration
	for _, m := range a.Metrics {
		am := m.Analysis(func(s string) string { return s })
		interval := am.Interval
		if interval == 0 {
			interval = analysis.DefaultInterval
		}
		most = max(most, am.InitialDelay+time.Duration(am.Count)*(interval+10*time.Second))
	}
	return most + time.Minute
}
