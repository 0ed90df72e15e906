package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// hostStateFile holds the host state a running real node claimed, so that
// the next real node can put the machine back after one whose process was
// killed before its teardown (a SIGKILL, a CI job cancelled): its
// components die with it (Pdeathsig), but the bridge, the users' network
// namespace, kube-proxy's nft tables, the containers' shims, cgroups and
// mounts, and changed kernel settings would stay. /run is cleared on
// reboot, as all of those are.
const hostStateFile = "/run/cutover-testbed/realnode.json"

// savedHost is hostState as written to hostStateFile.
type savedHost struct {
	PID     int                 `json:"pid"`
	NodeDir string              `json:"nodeDir"`
	Sysctls map[string]string   `json:"sysctls"`
	Dirs    map[string][]string `json:"dirs"`
	Tables  []string            `json:"tables"`
}

// save records h as claimed by this process.
func (h *hostState) save() error {
	b, err := json.Marshal(savedHost{PID: os.Getpid(), NodeDir: h.nodeDir, Sysctls: h.sysctls, Dirs: h.dirs, Tables: h.tables})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(hostStateFile), 0o700); err != nil {
		return fmt.Errorf("record the host state: %w", err)
	}
	if err := os.WriteFile(hostStateFile, b, 0o600); err != nil {
		return fmt.Errorf("record the host state: %w", err)
	}
	return nil
}

// forget removes the record once the host is put back.
func forget() error {
	for _, p := range []string{hostStateFile, filepath.Dir(hostStateFile)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// RecoverHost puts the machine back from a real node whose process died
// before its teardown, as its record says, and removes that node's
// directory. It refuses while that process still runs. Starting a real node
// does it first; a test that compares the host before and after a real node
// calls it before it takes its "before".
func RecoverHost(ctx context.Context, logf func(string, ...any)) error {
	b, err := os.ReadFile(hostStateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", hostStateFile, err)
	}
	var s savedHost
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("read %s: %w (remove it once no real node runs)", hostStateFile, err)
	}
	if s.PID != os.Getpid() && alive(s.PID) {
		return fmt.Errorf("another real node runs on this machine (process %d, %s)", s.PID, s.NodeDir)
	}
	logf("recovering the host from the real node of process %d, gone without its teardown (%s)", s.PID, s.NodeDir)
	h := &hostState{nodeDir: s.NodeDir, sysctls: s.Sysctls, dirs: s.Dirs, tables: s.Tables}
	if err := h.release(ctx); err != nil {
		return fmt.Errorf("recover the host from the real node of process %d: %w", s.PID, err)
	}
	if strings.Contains(s.NodeDir, "cutover-testbed") {
		if err := os.RemoveAll(s.NodeDir); err != nil {
			return fmt.Errorf("remove the old node's directory: %w", err)
		}
	}
	return nil
}
