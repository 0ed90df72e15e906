// Package event is the one stream a deployment run reports through. The
// engine emits typed events; every output (live terminal view, plain CI
// lines, JSON lines, later a dashboard) consumes the same stream, so nothing
// parses log text.
package event

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Type says what happened.
type Type string

// Event types.
const (
	StageStarted  Type = "stage.started"
	StageFinished Type = "stage.finished"
	ObjectPlanned Type = "object.planned" // dry run: what would change
	ObjectApplied Type = "object.applied"
	ObjectStatus  Type = "object.status" // readiness progress of an applied object
	CheckAttempt  Type = "check.attempt"
	Warning       Type = "warning"
	Approval      Type = "approval" // Status: waiting, approved, rejected, expired
	Rollback      Type = "rollback"
	Result        Type = "result"
	Analysis      Type = "analysis" // one measurement of a metric (package analysis)
	Traffic       Type = "traffic"  // a canary's share of traffic changed: Weight says how
)

// Statuses that Event.Status takes, by Type; free text goes in Message.
//
//	stage.finished  succeeded, failed, skipped
//	object.status   kstatus: InProgress, Current, Failed, Terminating, NotFound, Unknown
//	check.attempt   passed, failed
//	rollback        restoring, switching back, redeploy, would redeploy, failed
//	approval        waiting, pending, approved, rejected, expired
//	result          succeeded, failed, rolled back, rollback failed, pending
//	analysis        successful, failed, inconclusive, error
//	traffic         set (a step), stable (promoted or aborted: all on stable)
//	warning         a kind, when it has one: endpoint drift, zero-downtime, autoscaled, take over
const (
	Succeeded      = "succeeded"
	Failed         = "failed"
	Skipped        = "skipped"
	Restoring      = "restoring"
	SwitchingBack  = "switching back"
	RolledBack     = "rolled back"
	RollbackFailed = "rollback failed"
	Pending        = "pending"
)

// StageID is the stable identifier of the stage named name, as JSON events
// (stageId) and release records (id) carry it: "Check Env" is check-env.
// Stage names are for people; programs should match on the identifier.
func StageID(name string) string {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	})
	return strings.Join(words, "-")
}

// Weight is a canary's share of traffic.
type Weight struct {
	// Asked is the share the step set, in percent; Share the share the
	// canary actually carries: where traffic splits by replicas (no
	// gateway), its ready pods over all ready pods, an approximation.
	Asked int `json:"asked"`
	Share int `json:"share"`
	// CanaryPods and StablePods count the pods behind each, when the
	// split is by replicas.
	CanaryPods int `json:"canaryPods,omitempty"`
	StablePods int `json:"stablePods,omitempty"`
}

// Counts are a workload's replica counts while it rolls out.
type Counts struct {
	Desired   int64 `json:"desired"`
	Updated   int64 `json:"updated"`
	Ready     int64 `json:"ready"`
	Available int64 `json:"available"`
	Old       int64 `json:"old"`
}

// Event is one thing that happened during a run.
type Event struct {
	Time     time.Time     `json:"time"`
	Type     Type          `json:"type"`
	Stage    string        `json:"stage,omitempty"`
	Object   string        `json:"object,omitempty"` // Kind/namespace/name
	Action   string        `json:"action,omitempty"` // created, configured, unchanged
	Status   string        `json:"status,omitempty"` // InProgress, Current, Failed, passed, failed...
	Message  string        `json:"message,omitempty"`
	Counts   *Counts       `json:"counts,omitempty"`
	Weight   *Weight       `json:"weight,omitempty"` // Traffic
	Duration time.Duration `json:"-"`                // JSON output carries durationMs
	Error    string        `json:"error,omitempty"`
	// Settings name the release settings (package hint) that the event's
	// Error, or its Message when it has no Error, hints at: the engine
	// never names a flag, and each front end words these its own way.
	Settings []string `json:"settings,omitempty"`
}

// Sink receives events. Implementations must be safe for concurrent use.
type Sink interface {
	Emit(Event)
}

// Func adapts a function to a Sink.
type Func func(Event)

// Emit calls f.
func (f Func) Emit(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = Func(func(Event) {})

// Stamp fills in the time of e if unset and sends it.
func Stamp(s Sink, e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.Emit(e)
}

// Masker returns a function that replaces every occurrence of the given
// secret values with "***": as given, and as Go and JSON quote them (the
// API server quotes a value it rejects, so a value holding " or \ appears
// escaped). Empty values are ignored.
func Masker(secrets []string) func(string) string {
	var pairs []string
	for _, v := range secrets {
		if v == "" {
			continue
		}
		for _, form := range secretForms(v) {
			pairs = append(pairs, form, "***")
		}
	}
	if len(pairs) == 0 {
		return func(s string) string { return s }
	}
	return strings.NewReplacer(pairs...).Replace
}

// Redact returns a sink that masks the given secret values in an event's
// text fields before passing it on.
func Redact(next Sink, secrets []string) Sink {
	mask := Masker(secrets)
	return Func(func(e Event) {
		e.Message, e.Error, e.Object = mask(e.Message), mask(e.Error), mask(e.Object)
		next.Emit(e)
	})
}

// Collector keeps every event; tests and the release record use it.
type Collector struct {
	mu     sync.Mutex
	events []Event
}

// Emit records e.
func (c *Collector) Emit(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
}

// Events returns a copy of what was recorded.
func (c *Collector) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// Tee sends every event to each sink in turn.
func Tee(sinks ...Sink) Sink {
	return Func(func(e Event) {
		for _, s := range sinks {
			s.Emit(e)
		}
	})
}

// secretForms are the ways a value can appear in text: as given, and
// escaped inside Go or JSON quotes. The longest go first, so that the
// replacer masks an escaped form whole.
func secretForms(v string) []string {
	forms := []string{v}
	goq := strconv.Quote(v)
	if inner := goq[1 : len(goq)-1]; inner != v {
		forms = append(forms, inner)
	}
	if b, err := json.Marshal(v); err == nil {
		if inner := string(b[1 : len(b)-1]); !slices.Contains(forms, inner) {
			forms = append(forms, inner)
		}
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return forms
}

type sinkKey struct{}

type stageSink struct {
	sink  Sink
	stage string
}

// WithSink returns ctx carrying the sink and the stage that a step runs
// under, for what reports events of its own from inside it (a metric
// analysis run as a check): they then reach the run's record too.
func WithSink(ctx context.Context, s Sink, stage string) context.Context {
	return context.WithValue(ctx, sinkKey{}, stageSink{s, stage})
}

// SinkFrom returns the sink and stage WithSink put in ctx.
func SinkFrom(ctx context.Context) (Sink, string, bool) {
	s, ok := ctx.Value(sinkKey{}).(stageSink)
	return s.sink, s.stage, ok
}
