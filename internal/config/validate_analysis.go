package config

import (
	"github.com/cutover/cutover/internal/analysis"
)

// analysis validates an analysis check's metrics: their providers and
// templates, their conditions compiled, their counts and limits.
func (v *validator) analysis(path string, a *AnalysisCheck) {
	if len(a.Metrics) == 0 {
		v.failf(field(path, "metrics"), "want at least one metric")
	}
	names := map[string]bool{}
	for i, m := range a.Metrics {
		p := index(field(path, "metrics"), i)
		if v.required(field(p, "name"), m.Name) && names[m.Name] {
			v.failf(field(p, "name"), "%q names two metrics", m.Name)
		}
		names[m.Name] = true
		v.metric(p, &m)
	}
}

func (v *validator) metric(path string, m *Metric) {
	v.provider(path, m)
	if m.SuccessCondition == "" && m.FailureCondition == "" && m.Job == nil {
		v.failf(path, "want a successCondition or a failureCondition to judge the result")
	}
	for _, c := range [][2]string{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
		if err := analysis.CheckCondition(c[1]); err != nil {
			v.failf(field(path, c[0]), "%w", err)
		}
	}
	v.atLeast(field(path, "count"), m.Count, 1)
	v.atLeast(field(path, "failureLimit"), m.FailureLimit, 0)
	v.atLeast(field(path, "inconclusiveLimit"), m.InconclusiveLimit, 0)
	v.atLeast(field(path, "consecutiveErrorLimit"), m.ConsecutiveErrorLimit, -1)
	v.positive(field(path, "interval"), m.Interval)
	if m.InitialDelay != nil && *m.InitialDelay < 0 {
		v.failf(field(path, "initialDelay"), "want a duration of zero or more, got %s", m.InitialDelay)
	}
}

// provider checks that exactly one provider is set, and its settings.
func (v *validator) provider(path string, m *Metric) {
	if n := count(m.Prometheus != nil, m.Web != nil, m.Command != nil, m.Job != nil); n != 1 {
		v.failf(path, "want exactly one of prometheus, web, command and job, got %d", n)
		return
	}
	if m.Job != nil { // its Job is built and checked with the run's clients
		v.required(field(path, "job.file"), m.Job.File)
		return
	}
	key := map[bool]string{m.Prometheus != nil: "prometheus", m.Web != nil: "web", m.Command != nil: "command"}[true]
	if err := m.provider(func(s string) string { return s }).Validate(); err != nil {
		v.failf(field(path, key), "%w", err)
	}
	if m.Web != nil {
		v.headers(field(path, "web.headers"), m.Web.Headers)
	}
}
