package report

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FormatJUnit is the JUnit XML report's format name.
const FormatJUnit = "junit"

// SummaryEnv names the file GitHub Actions shows as a step's summary.
const SummaryEnv = "GITHUB_STEP_SUMMARY"

// Spec is one requested report: its format and the file to write.
type Spec struct {
	Format string // FormatJUnit
	Path   string
}

// ParseSpec parses a --report value, FORMAT=FILE; the only format is junit.
func ParseSpec(value string) (Spec, error) {
	format, path, ok := strings.Cut(value, "=")
	if !ok || format != FormatJUnit || path == "" {
		return Spec{}, fmt.Errorf("--report %q: want junit=FILE", value)
	}
	return Spec{Format: format, Path: path}, nil
}

// ParseSpecs parses every --report value, so that a command can refuse a
// bad one before any cluster work.
func ParseSpecs(values []string) ([]Spec, error) {
	specs := make([]Spec, 0, len(values))
	for _, v := range values {
		s, err := ParseSpec(v)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// Finish writes every requested report, creating the directories of its
// file, and appends the Markdown summary to the file named by
// $GITHUB_STEP_SUMMARY when getenv (os.Getenv, or a test's) gives one. It
// writes every report it can, and returns what failed.
func (c *Collector) Finish(specs []Spec, meta Meta, getenv func(string) string) error {
	var errs []error
	for _, s := range specs {
		errs = append(errs, c.writeFile(s, meta))
	}
	if path := getenv(SummaryEnv); path != "" {
		errs = append(errs, c.appendSummary(path, meta))
	}
	return errors.Join(errs...)
}

// writeFile writes the report s asks for, whole or not at all.
func (c *Collector) writeFile(s Spec, meta Meta) error {
	var buf bytes.Buffer
	if err := c.WriteJUnit(&buf, meta); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return fmt.Errorf("%s report: %w", s.Format, err)
	}
	if err := os.WriteFile(s.Path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("%s report: %w", s.Format, err)
	}
	return nil
}

// appendSummary appends the Markdown summary to the file at path.
func (c *Collector) appendSummary(path string, meta Meta) (err error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("step summary: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("step summary: %w", cerr)
		}
	}()
	return c.WriteMarkdown(f, meta)
}
