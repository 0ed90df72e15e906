package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BinEnv names the environment variable that points at a directory holding
// the upstream binaries; when unset, upstream/build.sh finds or builds them.
const BinEnv = "CUTOVER_TESTBED_BIN"

var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// binDir returns the directory of the upstream binaries, building them
// (once; the result is cached outside the repository) when needed.
func binDir(ctx context.Context, explicit string) (string, error) {
	dir := explicit
	if dir == "" {
		dir = os.Getenv(BinEnv)
	}
	if dir == "" {
		var err error
		if dir, err = runBuildScript(ctx); err != nil {
			return "", err
		}
	}
	for _, c := range components {
		if _, err := os.Stat(filepath.Join(dir, c)); err != nil {
			return "", fmt.Errorf("test bed binary %s missing in %s: %w", c, dir, err)
		}
	}
	return dir, nil
}

func runBuildScript(ctx context.Context) (string, error) {
	script, err := findBuildScript()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, script)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build test bed binaries with %s: %w", script, err)
	}
	return strings.TrimSpace(out.String()), nil
}

// findBuildScript walks up from the working directory to upstream/build.sh.
func findBuildScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "upstream", "build.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("upstream/build.sh not found above the working directory; set " + BinEnv)
		}
		dir = parent
	}
}
