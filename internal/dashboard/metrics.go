package dashboard

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cutover/cutover/internal/release"
)

// durationBuckets, in seconds, span a canary's quick step to a release
// that waited an hour for its approval.
var durationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}

// metrics describes the namespaces' releases from the records the
// dashboard watches, read at each scrape: the records are the truth, so a
// restarted dashboard reports the same figures.
type metrics struct {
	views      *views
	namespaces []string

	releases, release, stage, pending, measurements *prometheus.Desc
}

func newMetrics(v *views, namespaces []string) *metrics {
	return &metrics{
		views: v, namespaces: namespaces,
		releases: prometheus.NewDesc("cutover_releases", "Release records kept (the latest 30 of each app), by app, strategy and outcome.",
			[]string{"namespace", "app", "strategy", "outcome"}, nil),
		release: prometheus.NewDesc("cutover_release_duration_seconds", "How long the finished releases of the kept records took, from start to outcome.",
			[]string{"namespace", "app", "strategy"}, nil),
		stage: prometheus.NewDesc("cutover_stage_duration_seconds", "How long the finished stages of the kept records took (Switch: the switch latency).",
			[]string{"namespace", "app", "stage"}, nil),
		pending: prometheus.NewDesc("cutover_pending_approvals", "1 when the app's latest release waits for a person: an approval, a canary's pause, a staged release.",
			[]string{"namespace", "app"}, nil),
		measurements: prometheus.NewDesc("cutover_analysis_measurements", "Analysis measurements the kept records hold, by metric and phase.",
			[]string{"namespace", "app", "metric", "phase"}, nil),
	}
}

// Describe sends the metrics' descriptions.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.releases, m.release, m.stage, m.pending, m.measurements} {
		ch <- d
	}
}

// Collect reads the records as they are now: none of a namespace whose
// records the dashboard's own identity may not read (serve mode).
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, ns := range m.namespaces {
		recs, err := m.views.of(ns)
		if err != nil {
			continue
		}
		for _, app := range recs.names() {
			list := recs.app(app)
			if len(list) == 0 {
				continue
			}
			pending := 0.0
			if waitOf(list[0]).Label != "" {
				pending = 1
			}
			ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, pending, ns, app)
			m.collectApp(ch, ns, app, list)
		}
	}
}

// collectApp sends one app's counts and durations.
func (m *metrics) collectApp(ch chan<- prometheus.Metric, ns, app string, list []*release.Record) {
	counts := map[[2]string]float64{}
	took := map[string]*histogram{}
	stages := map[string]*histogram{}
	measured := map[[2]string]float64{}
	for _, r := range list {
		counts[[2]string{r.Strategy, r.Outcome}]++
		if !r.Finished.IsZero() {
			observe(took, r.Strategy, r.Finished.Sub(r.Started).Seconds())
		}
		for _, s := range r.Stages {
			if !s.Finished.IsZero() && !s.Started.IsZero() {
				observe(stages, s.Name, s.Finished.Sub(s.Started).Seconds())
			}
		}
		for _, x := range r.Measurements {
			measured[[2]string{x.Metric, x.Phase}]++
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.releases, prometheus.GaugeValue, n, ns, app, k[0], k[1])
	}
	for strategy, h := range took {
		ch <- h.metric(m.release, ns, app, strategy)
	}
	for stage, h := range stages {
		ch <- h.metric(m.stage, ns, app, stage)
	}
	for k, n := range measured {
		ch <- prometheus.MustNewConstMetric(m.measurements, prometheus.GaugeValue, n, ns, app, k[0], k[1])
	}
}

// histogram gathers observations for a constant histogram.
type histogram struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

func observe(by map[string]*histogram, key string, v float64) {
	h := by[key]
	if h == nil {
		h = &histogram{buckets: map[float64]uint64{}}
		by[key] = h
	}
	h.count++
	h.sum += v
	for _, b := range durationBuckets {
		if v <= b {
			h.buckets[b]++
		}
	}
}

func (h *histogram) metric(d *prometheus.Desc, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstHistogram(d, h.count, h.sum, h.buckets, labels...)
}

// metricsHandler serves the metrics in Prometheus' text format.
func metricsHandler(m *metrics) http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
