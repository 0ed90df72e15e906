package output

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/event"
)

// Live redraws a compact view in place on a terminal: the stages with their
// durations, then each object with its latest status and counts.
type Live struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	stages  []stageRow
	objects []string
	rows    map[string]string
	notes   []string
	drawn   int // lines drawn last time
	width   int // terminal columns; lines are cut to fit so the redraw stays in place
}

type stageRow struct {
	name, status string
	started      time.Time
	took         time.Duration
}

// NewLive returns a Live sink writing to a terminal w that is width columns
// wide (0: unknown, lines are not cut).
func NewLive(w io.Writer, width int) *Live {
	return &Live{w: w, start: time.Now(), rows: map[string]string{}, width: width}
}

// Emit updates the view with e and redraws it.
func (l *Live) Emit(e event.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.update(e)
	l.draw()
}

func (l *Live) update(e event.Event) {
	switch e.Type {
	case event.StageStarted:
		l.stages = append(l.stages, stageRow{name: e.Stage, status: "running", started: e.Time})
	case event.StageFinished:
		for i := range l.stages {
			if l.stages[i].name == e.Stage && l.stages[i].status == "running" {
				l.stages[i].status, l.stages[i].took = e.Status, e.Duration
			}
		}
		if e.Error != "" {
			l.notes = append(l.notes, fmt.Sprintf("%s: %s", e.Stage, e.Error))
		}
	case event.ObjectPlanned, event.ObjectApplied, event.ObjectStatus, event.CheckAttempt, event.Rollback, event.Approval:
		if _, ok := l.rows[e.Object]; !ok {
			l.objects = append(l.objects, e.Object)
		}
		l.rows[e.Object] = strings.TrimPrefix(Describe(e), "["+e.Stage+"] "+e.Object+" ")
	case event.Warning:
		l.notes = append(l.notes, "warning: "+e.Message)
	}
}

func (l *Live) draw() {
	var b strings.Builder
	if l.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", l.drawn) // back to the top of the last frame
	}
	lines := l.frame()
	for _, line := range lines {
		b.WriteString("\x1b[2K" + l.fit(line) + "\n")
	}
	l.drawn = len(lines)
	_, _ = io.WriteString(l.w, b.String())
}

// fit cuts a line to the terminal's width.
func (l *Live) fit(line string) string {
	r := []rune(line)
	if l.width <= 1 || len(r) < l.width {
		return line
	}
	return string(r[:l.width-2]) + "…"
}

func (l *Live) frame() []string {
	var out []string
	for _, s := range l.stages {
		took := s.took
		if s.status == "running" {
			took = time.Since(s.started)
		}
		out = append(out, fmt.Sprintf("%-10s %-10s %s", s.name, s.status, ShortDuration(took)))
	}
	for _, o := range l.objects {
		out = append(out, fmt.Sprintf("  %-50s %s", o, clean(l.rows[o])))
	}
	for _, n := range l.notes {
		out = append(out, clean(n))
	}
	return out
}

// ShortDuration formats a duration for a stage view: 850ms, 12.3s, 2m5s.
func ShortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
