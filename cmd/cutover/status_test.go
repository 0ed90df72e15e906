package main

import (
	"testing"
	"time"

	"github.com/cutover/cutover/internal/release"
)

func TestStartedText(t *testing.T) {
	at := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		rec  release.Record
		want string
	}{
		{"from the command line", release.Record{Started: at, Holder: "ci-7/pid 42"},
			"2026-12-08T10:00:00Z by ci-7/pid 42"},
		{"a person's, from the dashboard", release.Record{Started: at, Holder: "dash/pid 1", By: "alice"},
			"2026-12-08T10:00:00Z by alice, run by dash/pid 1"},
		{"with their comment", release.Record{Started: at, Holder: "dash/pid 1", By: "alice", Comment: "back to blue"},
			"2026-12-08T10:00:00Z by alice, run by dash/pid 1: back to blue"},
	}
	for _, c := range cases {
		if got := startedText(&c.rec); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
