package analysis

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"text/template"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/util/jsonpath"
)

// text is a provider setting that may name Args: {{.CanaryService}}.
type text string

func (t text) parse(field string) (*template.Template, error) {
	tmpl, err := template.New(field).Option("missingkey=error").Parse(string(t))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return tmpl, nil
}

// validate parses the template and runs it once on empty Args, which
// finds a field that Args lacks before any measurement.
func (t text) validate(field string) error {
	tmpl, err := t.parse(field)
	if err != nil {
		return err
	}
	if err := tmpl.Execute(io.Discard, Args{}); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

func (t text) render(field string, args Args) (string, error) {
	tmpl, err := t.parse(field)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, args); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return b.String(), nil
}

// Prometheus runs a PromQL query at the time of each measurement. A scalar
// is a number; a vector a list of numbers, ordered by their series' labels;
// an empty vector an empty list (size(result) == 0: no data).
type Prometheus struct {
	Address string // e.g. http://prometheus.monitoring:9090
	Query   string // PromQL; may name Args
	Timeout time.Duration
}

// Validate checks the address and the query's template.
func (p *Prometheus) Validate() error {
	if !strings.HasPrefix(p.Address, "http://") && !strings.HasPrefix(p.Address, "https://") {
		return fmt.Errorf("prometheus address %q: want an http:// or https:// URL", p.Address)
	}
	if strings.TrimSpace(p.Query) == "" {
		return errors.New("prometheus: no query")
	}
	return text(p.Query).validate("query")
}

// Measure runs the query.
func (p *Prometheus) Measure(ctx context.Context, args Args) (any, error) {
	q, err := text(p.Query).render("query", args)
	if err != nil {
		return nil, err
	}
	c, err := promapi.NewClient(promapi.Config{Address: p.Address})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", p.Address, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(p.Timeout, 10*time.Second))
	defer cancel()
	v, _, err := promv1.NewAPI(c).Query(ctx, q, time.Now())
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: query %q: %w", p.Address, q, err)
	}
	return promValue(v)
}

func promValue(v model.Value) (any, error) {
	switch v := v.(type) {
	case *model.Scalar:
		return float64(v.Value), nil
	case model.Vector:
		slices.SortFunc(v, func(a, b *model.Sample) int { return strings.Compare(a.Metric.String(), b.Metric.String()) })
		out := make([]any, 0, len(v))
		for _, s := range v {
			out = append(out, float64(s.Value))
		}
		return out, nil
	}
	return nil, fmt.Errorf("prometheus: a %s result; want a scalar or an instant vector", v.Type())
}

// Web gets a URL and picks a value out of its JSON with a JSONPath
// (kubectl's syntax: {.data.errorRate}); without one the whole document is
// the result.
type Web struct {
	URL      string // may name Args
	Headers  map[string]string
	JSONPath string
	Timeout  time.Duration
}

// Validate checks the URL's template and the JSONPath.
func (w *Web) Validate() error {
	if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
		return fmt.Errorf("web url %q: want an http:// or https:// URL", w.URL)
	}
	if err := text(w.URL).validate("url"); err != nil {
		return err
	}
	if w.JSONPath != "" {
		if err := jsonpath.New("jsonPath").Parse(w.JSONPath); err != nil {
			return fmt.Errorf("jsonPath %q: %w", w.JSONPath, err)
		}
	}
	return nil
}

// Measure gets the URL; a status other than 2xx is an error.
func (w *Web) Measure(ctx context.Context, args Args) (any, error) {
	url, err := text(w.URL).render("url", args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(w.Timeout, 10*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: not JSON: %w", url, err)
	}
	return pick(doc, w.JSONPath)
}

// pick applies a JSONPath to a JSON document: one value, or a list of all
// it found.
func pick(doc any, path string) (any, error) {
	if path == "" {
		return doc, nil
	}
	jp := jsonpath.New("jsonPath")
	if err := jp.Parse(path); err != nil {
		return nil, err
	}
	found, err := jp.FindResults(doc)
	if err != nil {
		return nil, fmt.Errorf("jsonPath %s: %w", path, err)
	}
	var out []any
	for _, group := range found {
		for _, v := range group {
			out = append(out, v.Interface())
		}
	}
	switch len(out) {
	case 0:
		return nil, fmt.Errorf("jsonPath %s: nothing found", path)
	case 1:
		return out[0], nil
	}
	return out, nil
}

// Command runs a shell command; its standard output, as JSON when it is
// (a number, an object), else as a string, is the result. A non-zero exit
// is an error.
type Command struct {
	Run     string // sh -c; may name Args
	Timeout time.Duration
}

// Validate checks the command's template.
func (c *Command) Validate() error {
	if strings.TrimSpace(c.Run) == "" {
		return errors.New("command: nothing to run")
	}
	return text(c.Run).validate("run")
}

// Measure runs the command.
func (c *Command) Measure(ctx context.Context, args Args) (any, error) {
	line, err := text(c.Run).render("run", args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.Timeout, time.Minute))
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("command: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	var v any
	if json.Unmarshal(out.Bytes(), &v) == nil {
		return v, nil
	}
	return strings.TrimSpace(out.String()), nil
}

// Job runs a Kubernetes Job for each measurement: a test suite, a load
// test's verdict. Its result is {"succeeded": bool, "detail": string}:
// a Job that ran and failed is a value (succeeded false) for the
// conditions to judge, one that could not be run or followed to its end is
// an error. The caller, who holds the clients, builds Run.
type Job struct {
	// Name is the Job's template, for messages.
	Name string
	// Run runs one Job with the measurement's Args and reports whether it
	// completed (see verify.Job.Run).
	Run func(ctx context.Context, args Args) (complete bool, detail string, err error)
}

// JobSucceeded is the condition a Job metric gets when it names none.
const JobSucceeded = "result.succeeded"

// Validate checks that there is a Job to run.
func (j *Job) Validate() error {
	if j.Run == nil {
		return fmt.Errorf("job %s: nothing to run", j.Name)
	}
	return nil
}

// Measure runs the Job.
func (j *Job) Measure(ctx context.Context, args Args) (any, error) {
	complete, detail, err := j.Run(ctx, args)
	if err != nil {
		return nil, err
	}
	return map[string]any{"succeeded": complete, "detail": detail}, nil
}
