package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// notes is a slog handler that turns the data plane's log (backends
// starting, a stop being scheduled and why, routers changing) into timeline
// notes, so that a failed request can be read against what the data plane
// did. Records before a sink is set are dropped: the auditor starts after
// the clean deploy of 7.
type notes struct {
	sink  *atomic.Pointer[func(time.Time, string)]
	attrs []slog.Attr
}

func newNotes() *notes {
	return &notes{sink: &atomic.Pointer[func(time.Time, string)]{}}
}

// to sends every later record to mark.
func (n *notes) to(mark func(time.Time, string)) { n.sink.Store(&mark) }

func (n *notes) Enabled(context.Context, slog.Level) bool { return n.sink.Load() != nil }

func (n *notes) Handle(_ context.Context, r slog.Record) error {
	mark := n.sink.Load()
	if mark == nil || r.Message == "endpoints changed" { // the auditor records routes itself
		return nil
	}
	var b strings.Builder
	b.WriteString("data plane: " + r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range n.attrs {
		write(a)
	}
	r.Attrs(write)
	(*mark)(r.Time, b.String())
	return nil
}

func (n *notes) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &notes{sink: n.sink, attrs: append(append([]slog.Attr(nil), n.attrs...), attrs...)}
}

// WithGroup is not needed by the data plane's log: groups are flattened.
func (n *notes) WithGroup(string) slog.Handler { return n }
