package kube

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// traced logs every API request at debug level: method, path and query,
// status and duration, as kubectl -v=6 does. Bodies are never logged: they
// may hold Secret values.
type traced struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (t traced) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("url", req.URL.RequestURI()),
		slog.Duration("took", time.Since(start)),
	}
	switch {
	case err != nil:
		attrs = append(attrs, slog.String("error", err.Error()))
	default:
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	t.log.LogAttrs(req.Context(), slog.LevelDebug, "api request", attrs...)
	return resp, err
}

// traceRequests wraps a transport with traced when log logs debug lines.
func traceRequests(log *slog.Logger) func(http.RoundTripper) http.RoundTripper {
	if log == nil || !log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	return func(rt http.RoundTripper) http.RoundTripper { return traced{next: rt, log: log} }
}
