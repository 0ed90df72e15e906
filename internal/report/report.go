// Package report writes a run's stages as the machine-readable reports that
// CI systems display: a JUnit XML file (--report junit=FILE), which
// Jenkins' JUnit plugin and GitLab's unit test reports (artifacts:reports:junit)
// show as one test case per stage, and a Markdown summary that GitHub
// Actions shows on the run's page when it is appended to the file named by
// $GITHUB_STEP_SUMMARY.
//
// A Collector takes the run's events as an event.Sink; it must sit behind
// the sink that masks secret values, as it writes what it is given.
package report

import (
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/event"
)

// Stage statuses as the engine reports them (event.StageFinished).
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

// notFinished is the error of a stage that started but never finished.
const notFinished = "did not finish"

// maxWarnings bounds the warnings a report keeps; the rest are counted.
const maxWarnings = 200

// Meta names the run a report is about.
type Meta struct {
	App       string
	Strategy  string // rolling or blue-green
	Namespace string
	// Started is when the run began: the JUnit suite's timestamp and the
	// start of its time. Zero means the first event's time.
	Started time.Time
}

// Collector records a run's stages in the order they started, its
// warnings and its result. It is an event.Sink, safe for concurrent use.
// The zero value is ready to use.
type Collector struct {
	mu          sync.Mutex
	stages      []stage
	warnings    []warning
	dropped     int // warnings beyond maxWarnings
	result      *event.Event
	first, last time.Time
}

// stage is one stage of the run as reported.
type stage struct {
	Name     string
	Status   string // StatusSucceeded, StatusFailed or StatusSkipped
	Error    string // of a failed stage
	Note     string // why a stage was skipped
	Started  time.Time
	Duration time.Duration
	finished bool
}

// warning is one warning, with the stage it belongs to: the latest of its
// Stage name when it was emitted, or none (-1) for the run's.
type warning struct {
	Stage string
	index int
	Text  string
}

// Emit records stage, warning and result events; others are ignored.
func (c *Collector) Emit(e event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !e.Time.IsZero() {
		if c.first.IsZero() || e.Time.Before(c.first) {
			c.first = e.Time
		}
		if e.Time.After(c.last) {
			c.last = e.Time
		}
	}
	switch e.Type {
	case event.StageStarted:
		c.stages = append(c.stages, stage{Name: e.Stage, Started: e.Time})
	case event.StageFinished:
		c.finish(e)
	case event.Warning:
		c.warn(e)
	case event.Result:
		c.result = &e
	}
}

// finish completes the latest unfinished stage of e's name, or adds the
// stage when it was never reported started.
func (c *Collector) finish(e event.Event) {
	s := c.open(e.Stage)
	if s == nil {
		c.stages = append(c.stages, stage{Name: e.Stage, Started: e.Time.Add(-e.Duration)})
		s = &c.stages[len(c.stages)-1]
	}
	s.Status, s.Error, s.Duration, s.finished = e.Status, e.Error, e.Duration, true
	if e.Status == StatusSkipped {
		s.Note = e.Message
	}
}

// open returns the latest unfinished stage named name, or nil.
func (c *Collector) open(name string) *stage {
	for i := len(c.stages) - 1; i >= 0; i-- {
		if s := &c.stages[i]; s.Name == name && !s.finished {
			return s
		}
	}
	return nil
}

func (c *Collector) warn(e event.Event) {
	if len(c.warnings) >= maxWarnings {
		c.dropped++
		return
	}
	w := warning{index: -1, Text: warningText(e)}
	for i := len(c.stages) - 1; i >= 0 && e.Stage != ""; i-- {
		if c.stages[i].Name == e.Stage {
			w.Stage, w.index = e.Stage, i
			break
		}
	}
	c.warnings = append(c.warnings, w)
}

// warningText is a warning as one line of text: its object, unless the
// message names it already, and its message (or status and action).
func warningText(e event.Event) string {
	msg := e.Message
	if msg == "" {
		msg = strings.TrimSpace(e.Status + " " + e.Action)
	}
	if e.Object != "" && !strings.Contains(msg, e.Object) {
		return e.Object + ": " + msg
	}
	return msg
}

// run is what a report shows: a consistent copy of what was collected,
// with unfinished stages failed.
type run struct {
	meta     Meta
	stages   []stage
	warnings []warning
	dropped  int
	outcome  string // the result's status, or noResult
	err      string // the result's error
	took     time.Duration
}

// noResult is the outcome of a run that reported none.
const noResult = "no result"

// snapshot copies what was collected for a report with meta.
func (c *Collector) snapshot(meta Meta) run {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := run{meta: meta, stages: append([]stage(nil), c.stages...),
		warnings: append([]warning(nil), c.warnings...), dropped: c.dropped, outcome: noResult}
	end := c.last
	if c.result != nil {
		r.outcome, r.err, end = c.result.Status, c.result.Error, c.result.Time
	}
	if r.meta.Started.IsZero() {
		r.meta.Started = c.first
	}
	if !r.meta.Started.IsZero() && end.After(r.meta.Started) {
		r.took = end.Sub(r.meta.Started)
	}
	for i := range r.stages {
		r.stages[i].failUnfinished(r.err, c.last)
	}
	return r
}

// failUnfinished marks a stage that never finished as failed, with the
// run's error if it has one, lasting until the last event.
func (s *stage) failUnfinished(runErr string, last time.Time) {
	if s.finished {
		return
	}
	s.Status, s.Error = StatusFailed, notFinished
	if runErr != "" {
		s.Error += ": " + runErr
	}
	if !s.Started.IsZero() && last.After(s.Started) {
		s.Duration = last.Sub(s.Started)
	}
}

// succeeded reports whether the run's result says it succeeded.
func (r run) succeeded() bool { return r.outcome == StatusSucceeded }

// title names the run: its app and strategy.
func (r run) title() string {
	app := r.meta.App
	if app == "" {
		app = "cutover"
	}
	if r.meta.Strategy == "" {
		return app
	}
	return app + " (" + r.meta.Strategy + ")"
}

// warningsOf returns the texts of the warnings of stage i, or of the run
// for -1: a warning naming a stage that had not started is the run's.
func (r run) warningsOf(i int) []string {
	var out []string
	for _, w := range r.warnings {
		if w.index == i {
			out = append(out, w.Text)
		}
	}
	return out
}
