package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cutover/cutover/internal/event"
)

// sinkLog is a logger whose warnings and errors reach the run's event
// stream as warning events, for the packages below the engine that log
// what they cannot return (a record write in the background).
func (r Run) sinkLog() *slog.Logger {
	return slog.New(sinkHandler{sink: r.Sink, secrets: r.Secrets})
}

type sinkHandler struct {
	sink    event.Sink
	secrets []string
	attrs   []slog.Attr
}

func (h sinkHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h sinkHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	attrs := append([]slog.Attr{}, h.attrs...)
	rec.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	for i, a := range attrs {
		sep := " "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(&b, "%s%s=%v", sep, a.Key, a.Value.Any())
	}
	if len(attrs) > 0 {
		b.WriteString(")")
	}
	warn(h.sink, event.Masker(h.secrets)(b.String()))
	return nil
}

func (h sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return h
}

func (h sinkHandler) WithGroup(string) slog.Handler { return h }
