package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ArtifactsEnv names the directory that Save writes timelines to. Unset,
// Save makes a new directory under the system's temp dir and keeps it, so
// that the path it prints still exists when the test has ended.
const ArtifactsEnv = "CUTOVER_ARTIFACTS"

// Save writes the timeline to a file named after the test and returns its
// path.
func (r *Report) Save(t testing.TB) (string, error) {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "cutover-audit-"); err != nil {
			return "", fmt.Errorf("save timeline: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("save timeline: %w", err)
	}
	path := filepath.Join(dir, fileName(t.Name())+".timeline.txt")
	return path, r.WriteTimeline(path)
}

// Assert fails t if the report breaks an invariant (1, 2, 4) or one of the
// extra violations (e.g. from CheckProduction) is given: it saves the
// timeline, then logs its path, every violation and the timeline around
// the first one. It returns whether there was none.
func (r *Report) Assert(t testing.TB, extra ...Violation) bool {
	t.Helper()
	vs := append(r.Violations(), extra...)
	if len(vs) == 0 {
		return true
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d zero-downtime violations:\n", len(vs))
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	if path, err := r.Save(t); err != nil {
		fmt.Fprintf(&b, "timeline not saved: %v\n", err)
	} else {
		fmt.Fprintf(&b, "timeline: %s\n", path)
	}
	first := vs[0].Time
	for _, v := range vs {
		if v.Time.Before(first) {
			first = v.Time
		}
	}
	fmt.Fprintf(&b, "timeline around %s:\n%s", stamp(first), r.Excerpt(first, 2*time.Second, time.Second))
	t.Error(b.String())
	return false
}

// fileName turns a test name into a file name.
func fileName(test string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, test)
}
