package testbed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostState is what the real node changes on this machine outside its own
// directory, as found before it started, so that release puts it back.
type hostState struct {
	nodeDir string
	sysctls map[string]string   // path under /proc/sys -> value before
	dirs    map[string][]string // watched dir -> its entries before; nil: it did not exist
	tables  []string            // nft tables before ("family name")
}

// sysctlsTouched are the kernel settings the real node's parts write: the
// bridge plugin turns on forwarding; the kubelet sets its kernel tunables
// (protectKernelDefaults off); kube-proxy may set route_localnet.
var sysctlsTouched = []string{
	"net/ipv4/ip_forward",
	"net/ipv4/conf/all/route_localnet",
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
}

// dirsTouched are paths the kubelet, containerd and the CNI plugins use
// whatever their configuration says.
var dirsTouched = []string{
	"/var/lib/kubelet",    // the device plugin socket
	"/var/log/containers", // the kubelet's container log links
	"/var/log/pods",
	"/var/lib/cni",    // the CNI result cache
	"/run/containerd", // the shims' sockets
	"/run/netns",      // the pods' network namespaces
	"/var/run/netns",
}

// hostPorts are the kubelet's and kube-proxy's fixed ports; one real node
// per machine.
var hostPorts = []int{10248, 10249, 10250, 10256}

// claimHost puts the host back from a real node that was killed before its
// teardown, checks that no other real node runs here, records the host
// state and creates the bridge and the cgroup root.
func claimHost(ctx context.Context, nodeDir string, logf func(string, ...any)) (*hostState, error) {
	if err := RecoverHost(ctx, logf); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/run/netns/" + userNetns); err == nil {
		return nil, fmt.Errorf("network namespace %s exists: another real node runs on this machine, or one was not cleaned up (ip netns del %s)", userNetns, userNetns)
	}
	if _, err := net.InterfaceByName(RealNodeBridge); err == nil {
		return nil, fmt.Errorf("bridge %s exists: another real node runs on this machine, or one was not cleaned up (ip link del %s)", RealNodeBridge, RealNodeBridge)
	}
	for _, p := range hostPorts {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			return nil, fmt.Errorf("port %d is taken (the kubelet and kube-proxy need 10248-10256): %w", p, err)
		}
		l.Close()
	}
	h := &hostState{nodeDir: nodeDir, sysctls: map[string]string{}, dirs: map[string][]string{}}
	for _, s := range sysctlsTouched {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", s)); err == nil {
			h.sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	for _, d := range dirsTouched {
		entries, err := os.ReadDir(d)
		if err != nil {
			h.dirs[d] = nil
			continue
		}
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		h.dirs[d] = names
	}
	var err error
	if h.tables, err = nftTables(); err != nil {
		return nil, err
	}
	if err := h.save(); err != nil {
		return nil, err
	}
	if err := h.createBridge(); err != nil {
		return nil, errors.Join(err, h.release(context.Background()))
	}
	if err := createUserHost(); err != nil {
		return nil, errors.Join(err, h.release(context.Background()))
	}
	if err := forEachCgroupHierarchy(func(root string) error {
		return os.MkdirAll(filepath.Join(root, cgroupRoot), 0o755)
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("create cgroup %s: %w", cgroupRoot, err), h.release(context.Background()))
	}
	return h, nil
}

// createBridge creates the pods' bridge with the node's address on it, so
// that the kubelet has its node IP before the first pod: the CNI bridge
// plugin then finds it.
func (h *hostState) createBridge() error {
	for _, args := range [][]string{
		{"link", "add", RealNodeBridge, "type", "bridge"},
		{"addr", "add", RealNodeIP + "/24", "dev", RealNodeBridge},
		{"link", "set", RealNodeBridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// release kills what is left of the node's containers, unmounts, removes
// the cgroups, the bridge, the nft tables and the directories the node
// created, and restores the kernel settings. It runs after containerd, the
// kubelet and kube-proxy have stopped, and reports every step that failed.
func (h *hostState) release(ctx context.Context) error {
	var errs []error
	errs = append(errs, killShims(h.nodeDir))
	errs = append(errs, killCgroup(ctx))
	errs = append(errs, deleteUserHost())
	errs = append(errs, h.unmount())
	errs = append(errs, removeCgroups())
	if _, err := net.InterfaceByName(RealNodeBridge); err == nil {
		if out, err := exec.Command("ip", "link", "del", RealNodeBridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge: %w: %s", err, out))
		}
	}
	errs = append(errs, h.removeTables())
	errs = append(errs, h.removeDirs())
	for s, v := range h.sysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys", s), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s: %w", s, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // the record stays: the next real node tries again
	}
	return forget()
}

// killShims kills the containerd shims serving the node's containerd: they
// outlive containerd by design.
func killShims(nodeDir string) error {
	pids, err := procsMatching(func(cmdline string) bool {
		return strings.Contains(cmdline, "containerd-shim") && strings.Contains(cmdline, nodeDir)
	})
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("containerd shim %d survives SIGKILL", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return err
}

// alive reports whether pid runs: it exists and is not a zombie waiting
// for its parent.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// procsMatching lists the processes whose command line matches.
func procsMatching(match func(cmdline string) bool) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if match(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killCgroup kills every process left in the node's cgroups (containers
// whose shim is gone) and waits until they are gone.
func killCgroup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		pids := cgroupProcs()
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes %v survive in cgroup %s", pids, cgroupRoot)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cgroupProcs lists the processes in the node's cgroups, in every
// hierarchy.
func cgroupProcs() []int {
	seen := map[int]bool{}
	_ = forEachCgroupHierarchy(func(root string) error {
		return filepath.WalkDir(filepath.Join(root, cgroupRoot), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	})
	return slices.Sorted(func(yield func(int) bool) {
		for pid := range seen {
			if !yield(pid) {
				return
			}
		}
	})
}

// removeCgroups removes the node's cgroup tree, deepest first, in every
// hierarchy.
func removeCgroups() error {
	return forEachCgroupHierarchy(func(root string) error {
		top := filepath.Join(root, cgroupRoot)
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		var errs []error
		for _, d := range slices.Backward(dirs) {
			if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// forEachCgroupHierarchy calls f with the root of every mounted cgroup
// hierarchy (v1 controllers, and the unified v2 tree).
func forEachCgroupHierarchy(f func(root string) error) error {
	var errs []error
	for _, m := range mounts() {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			errs = append(errs, f(m.point))
		}
	}
	return errors.Join(errs...)
}

// mount is one line of /proc/self/mountinfo.
type mount struct{ point, fstype string }

func mounts() []mount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		out = append(out, mount{point: unescapeMount(fields[4]), fstype: fields[sep+1]})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`); err == nil {
		return u
	}
	return s
}

// unmount detaches every mount under the node's directory and every pod
// network namespace the node created, deepest first.
func (h *hostState) unmount() error {
	var targets []string
	for _, m := range mounts() {
		if strings.HasPrefix(m.point, h.nodeDir+"/") || m.point == h.nodeDir || h.createdUnder(m.point) {
			targets = append(targets, m.point)
		}
	}
	slices.SortFunc(targets, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, t := range slices.Compact(targets) {
		if err := syscall.Unmount(t, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// createdUnder reports whether p lies in a watched dir, or is one, and was
// not there before the node started. (ip netns add makes /run/netns a
// mount of itself: on a machine that had no /run/netns, the dir is a
// mount point the node created.)
func (h *hostState) createdUnder(p string) bool {
	for d, before := range h.dirs {
		rel, err := filepath.Rel(d, p)
		if rel == "." && before == nil {
			return true
		}
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			continue
		}
		first := strings.Split(rel, string(filepath.Separator))[0]
		if before == nil || !slices.Contains(before, first) {
			return true
		}
	}
	return false
}

// removeDirs removes the watched dirs the node created, and the entries it
// added to those that existed.
func (h *hostState) removeDirs() error {
	var errs []error
	for d, before := range h.dirs {
		if before == nil {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if !slices.Contains(before, e.Name()) {
				if err := os.RemoveAll(filepath.Join(d, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// nftTables lists the nft tables as "family name".
func nftTables() ([]string, error) {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w", err)
	}
	var tables []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if t, ok := strings.CutPrefix(line, "table "); ok {
			tables = append(tables, t)
		}
	}
	return tables, nil
}

// removeTables deletes the nft tables that appeared since the node started:
// kube-proxy's, and those iptables-nft creates for the kubelet's and
// kube-proxy's checks.
func (h *hostState) removeTables() error {
	now, err := nftTables()
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range now {
		if slices.Contains(h.tables, t) {
			continue
		}
		args := append([]string{"delete", "table"}, strings.Fields(t)...)
		if out, err := exec.Command("nft", args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("nft delete table %s: %w: %s", t, err, out))
		}
	}
	return errors.Join(errs...)
}
