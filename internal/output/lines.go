// Package output renders the event stream: plain timestamped lines for CI
// logs, one JSON object per line for machines, and a live view that redraws
// in place for a terminal.
package output

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/event"
)

// Lines writes one plain line per event, without control characters.
type Lines struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLines returns a Lines sink writing to w.
func NewLines(w io.Writer) *Lines { return &Lines{w: w} }

// Emit writes e as one line.
func (l *Lines) Emit(e event.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s\n", e.Time.UTC().Format(time.RFC3339), clean(Describe(e)))
}

// Describe renders an event as text for a person.
func Describe(e event.Event) string {
	prefix := ""
	if e.Stage != "" {
		prefix = "[" + e.Stage + "] "
	}
	switch e.Type {
	case event.StageStarted:
		return prefix + "started"
	case event.StageFinished:
		s := fmt.Sprintf("%s%s in %s", prefix, e.Status, e.Duration.Round(time.Millisecond))
		if e.Error != "" {
			s += ": " + e.Error
		}
		return s
	case event.ObjectPlanned:
		return fmt.Sprintf("%s%s: would be %s", prefix, e.Object, e.Action)
	case event.ObjectApplied:
		return fmt.Sprintf("%s%s %s", prefix, e.Object, e.Action)
	case event.ObjectStatus:
		return prefix + e.Object + " " + statusText(e)
	case event.CheckAttempt:
		return fmt.Sprintf("%s%s %s: %s", prefix, e.Object, e.Status, e.Message)
	case event.Rollback:
		s := strings.TrimSpace(fmt.Sprintf("%s%s %s %s", prefix, e.Object, e.Status, e.Message))
		if e.Error != "" {
			s += ": " + e.Error
		}
		return s
	case event.Warning:
		return prefix + "warning: " + e.Message
	case event.Approval:
		return prefix + "approval " + e.Status + suffix(e.Message)
	case event.Result:
		return "result: " + e.Status + suffix(e.Message)
	case event.Analysis:
		return fmt.Sprintf("%s%s %s%s", prefix, e.Object, e.Status, suffix(e.Message))
	case event.Traffic:
		return prefix + "traffic " + e.Status + suffix(e.Message)
	}
	return prefix + string(e.Type) + suffix(e.Message)
}

func statusText(e event.Event) string {
	s := e.Status
	if e.Message != "" {
		s += ": " + e.Message
	}
	if c := e.Counts; c != nil {
		s += fmt.Sprintf(" (updated %d/%d, ready %d, available %d, old %d)", c.Updated, c.Desired, c.Ready, c.Available, c.Old)
	}
	return s
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// clean removes control characters so a log line stays one line.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// JSON writes one JSON object per event and line.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSON returns a JSON sink writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{enc: json.NewEncoder(w)} }

// Emit writes e.
func (j *JSON) Emit(e event.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(jsonEvent{Event: e, StageID: event.StageID(e.Stage), DurationMs: e.Duration.Milliseconds()})
}

// ParseJSON reads one line of the JSON output back into its event, for
// programs that consume cutover's output: the inverse of JSON.Emit.
func ParseJSON(line []byte) (event.Event, error) {
	var j jsonEvent
	if err := json.Unmarshal(line, &j); err != nil {
		return event.Event{}, fmt.Errorf("parse event: %w", err)
	}
	if j.Type == "" {
		return event.Event{}, errors.New("parse event: no type")
	}
	j.Event.Duration = time.Duration(j.DurationMs) * time.Millisecond
	return j.Event, nil
}

// jsonEvent reports durations in milliseconds, and the stage's stable
// identifier beside its name.
type jsonEvent struct {
	event.Event
	StageID    string `json:"stageId,omitempty"`
	DurationMs int64  `json:"durationMs,omitempty"`
}
