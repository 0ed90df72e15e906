package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/cutover/cutover/internal/event"
	cireport "github.com/cutover/cutover/internal/report"
)

// reportFlags write the run's stages for CI: --report junit=FILE, and a
// Markdown summary for GitHub Actions when $GITHUB_STEP_SUMMARY is set.
type reportFlags struct {
	values  []string
	specs   []cireport.Spec
	coll    cireport.Collector
	started time.Time
}

func (f *reportFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.values, "report", nil,
		"write a report for CI: junit=FILE (JUnit XML, one test case per stage, for Jenkins and GitLab); repeatable. With $GITHUB_STEP_SUMMARY set, a Markdown summary is appended there too")
}

// sink validates the flags, before any cluster work, and returns the
// printer for -o output with the reports' collector behind it. Wrap the
// result with event.Redact, so that the reports get masked events.
func (f *reportFlags) sink(output string, w io.Writer) (event.Sink, error) {
	f.started = time.Now()
	var err error
	if f.specs, err = cireport.ParseSpecs(f.values); err != nil {
		return nil, usageError{err}
	}
	sink, err := newSink(output, w)
	if err != nil {
		return nil, err
	}
	return event.Tee(sink, &f.coll), nil
}

// write writes the reports; a report that cannot be written is a warning,
// not the run's outcome.
func (f *reportFlags) write(stderr io.Writer, app, strategyName, ns string) {
	meta := cireport.Meta{App: app, Strategy: strategyName, Namespace: ns, Started: f.started}
	if err := f.coll.Finish(f.specs, meta, os.Getenv); err != nil {
		fmt.Fprintln(stderr, "warning: report:", err)
	}
}
