package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"version", []string{"version"}, exitOK},
		{"help", []string{"--help"}, exitOK},
		{"unknown flag", []string{"--no-such-flag"}, exitUsage},
		{"unknown command", []string{"no-such-command"}, exitUsage},
		{"extra argument", []string{"version", "extra"}, exitUsage},
		{"dashboard URL without a scheme", []string{"deploy", "-f", "app.yaml", "--strategy", "blue-green", "--service", "web",
			"--approval", "manual", "--dashboard-url", "cutover.example.com"}, exitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(context.Background(), tc.args, streams{in: strings.NewReader(""), out: io.Discard, err: io.Discard}); got != tc.want {
				t.Errorf("cutover %v exited %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}

func TestVersionOutput(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "cutover dev (commit ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("version output %q", out.String())
	}
}
