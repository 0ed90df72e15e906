package config

import (
	"time"

	"github.com/cutover/cutover/internal/analysis"
)

// Analysis returns the metric as package analysis runs it, with fill
// applied to its query, URL and command (the check's {color}). A job
// metric's Provider is an *analysis.Job without Run: the caller, who holds
// the clients, gives it one.
func (m Metric) Analysis(fill func(string) string) analysis.Metric {
	out := analysis.Metric{Name: m.Name, Provider: m.provider(fill), Count: 1,
		SuccessCondition: m.SuccessCondition, FailureCondition: m.FailureCondition}
	if m.Job != nil && m.SuccessCondition == "" && m.FailureCondition == "" {
		out.SuccessCondition = analysis.JobSucceeded
	}
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
	case m.Job != nil:
		return &analysis.Job{Name: m.Job.File}
	}
	return nil
}

// Duration bounds an analysis check's one attempt: every metric's initial
// delay and its measurements, each given up to 10 s (a Job's up to 10
// minutes, as a Job check's), plus a minute.
func (a *AnalysisCheck) Duration() time.Duration {
	var most time.Duration
	for _, m := range a.Metrics {
		am := m.Analysis(func(s string) string { return s })
		interval := am.Interval
		if interval == 0 {
			interval = analysis.DefaultInterval
		}
		measure := 10 * time.Second
		if m.Job != nil {
			measure = 10 * time.Minute
		}
		most = max(most, am.InitialDelay+time.Duration(am.Count)*(interval+measure))
	}
	return most + time.Minute
}
