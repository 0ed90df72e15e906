package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PrometheusOptions configure StartPrometheus.
type PrometheusOptions struct {
	// Targets are host:port addresses whose /metrics Prometheus scrapes.
	Targets []string
	// ScrapeInterval is how often; default 1s, as the canary tests want
	// (Prometheus refuses less).
	ScrapeInterval time.Duration
}

// Prometheus is a real Prometheus server, Debian's package
// (upstream/prometheus-deps.sh), on a loopback port with its data in a
// directory of its own.
type Prometheus struct {
	// URL is its API's address: http://127.0.0.1:PORT.
	URL string
	sidecar
}

// StartPrometheus starts a Prometheus that scrapes o.Targets, and returns
// once it is ready. Stop it with Stop; it dies with the test process too.
func StartPrometheus(ctx context.Context, o PrometheusOptions) (*Prometheus, error) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		return nil, fmt.Errorf("prometheus is not installed: run upstream/prometheus-deps.sh as root: %w", err)
	}
	dir, err := os.MkdirTemp("", "cutover-prometheus-")
	if err != nil {
		return nil, err
	}
	p := &Prometheus{sidecar: sidecar{dir: dir}}
	if err := p.start(ctx, bin, o); err != nil {
		return nil, errors.Join(err, p.Stop())
	}
	return p, nil
}

func (p *Prometheus) start(ctx context.Context, bin string, o PrometheusOptions) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	cfg := filepath.Join(p.dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(prometheusConfig(o)), 0o600); err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p.URL = "http://" + addr
	p.proc, err = startProcess(p.dir, "prometheus", bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, p.proc, healthCheck{url: p.URL + "/-/ready"}); err != nil {
		return fmt.Errorf("%w\n%s", err, p.proc.tail(20))
	}
	return nil
}

func prometheusConfig(o PrometheusOptions) string {
	interval := o.ScrapeInterval
	if interval <= 0 {
		interval = time.Second
	}
	targets := make([]string, len(o.Targets))
	for i, t := range o.Targets {
		targets[i] = fmt.Sprintf("%q", t)
	}
	return fmt.Sprintf(`global:
  scrape_interval: %s
  evaluation_interval: %s
scrape_configs:
  - job_name: testbed
    static_configs:
      - targets: [%s]
`, interval, interval, strings.Join(targets, ", "))
}

// Stop stops Prometheus and removes its data; its log's tail stays for
// Logs. A second Stop does nothing.
func (p *Prometheus) Stop() error { return p.stop() }

// RequirePrometheus starts a Prometheus for t, stopped when t ends. It
// skips with -short, and fails, naming the script to run, where Prometheus
// is not installed: CI installs it, so its tests never skip there.
func RequirePrometheus(t testing.TB, o PrometheusOptions) *Prometheus {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Prometheus, not started with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartPrometheus(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("prometheus log:\n" + p.Logs(30))
		}
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}
