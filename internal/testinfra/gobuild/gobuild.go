// Package gobuild builds the repository's commands for tests that run them
// as processes, with the race detector exactly when the test binary has it.
//
// A test binary built by go test -race that builds its command without
// -race makes go compile every dependency a second time (race and
// non-race packages are cached apart): on a cold cache that is minutes per
// test stream. Built the same way, the command reuses the test build's
// packages and only links, and the race detector watches the real binary.
package gobuild

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
)

// Options says what to build.
type Options struct {
	// Package is the import path or directory to build.
	Package string
	// Out is the binary's path.
	Out string
	// Dir is the directory go runs in (empty: the test's).
	Dir string
}

// Build runs go build, with -race when the calling binary was built with it.
func Build(ctx context.Context, o Options) error {
	args := []string{"build"}
	if Race {
		args = append(args, "-race")
	}
	args = append(args, "-o", o.Out, o.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = o.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", o.Package, err, out.String())
	}
	return nil
}
