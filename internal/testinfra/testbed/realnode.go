package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// The real node: containerd, runc, the CNI bridge plugin, a kubelet and
// kube-proxy on this machine, registered beside the kwok nodes. Its pods are
// real processes in their own network namespaces on a private bridge; they
// have no route off the machine.
const (
	// RealNodeName is the real node's name.
	RealNodeName = "cutover-node"
	// RealNodeBridge is the Linux bridge its pods attach to.
	RealNodeBridge = "cutover0"
	// RealNodeSubnet is the pods' network; the bridge holds its first
	// address, which is also the node's address.
	RealNodeSubnet = "10.213.0.0/24"
	// RealNodeIP is the node's (and the bridge's) address.
	RealNodeIP = "10.213.0.1"
	// SandboxImage is the pause image every pod's sandbox runs.
	SandboxImage = "cutover.test/pause:1"
)

// Tokens of the real node's components (tokens.csv).
const (
	kubeletUser   = "system:node:" + RealNodeName
	kubeProxyUser = "system:kube-proxy" // bound to system:node-proxier by default
)

// realNode is the state of a running real node.
type realNode struct {
	dir  string // under the test bed's dir
	sock string // containerd's socket
	host *hostState
	log  func(msg string, args ...any)
}

// RealNodeSupported says why a real node cannot run here, or nil. Root is
// needed for network namespaces, bridges, mounts and cgroups; the Debian
// packages come from upstream/realnode-deps.sh. The error is a
// *NotSupportedError when the machine itself cannot (not root, no cgroup
// controllers), and a plain error when packages are missing.
func RealNodeSupported() error {
	if os.Geteuid() != 0 {
		return &NotSupportedError{"the real node needs root (network namespaces, a bridge, mounts and cgroups)"}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		for _, c := range []string{"cpu", "memory", "pids"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c)); err != nil {
				return &NotSupportedError{fmt.Sprintf("the real node needs the %s cgroup controller", c)}
			}
		}
	}
	var missing []string
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "nft", "iptables", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			missing = append(missing, cniBinDir+"/"+plugin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the real node needs %s: run upstream/realnode-deps.sh as root", strings.Join(missing, ", "))
	}
	return nil
}

// NotSupportedError says why this machine cannot run a real node at all.
type NotSupportedError struct{ Reason string }

func (e *NotSupportedError) Error() string { return e.Reason }

// RequireRealNode skips the test where the machine cannot run a real node
// (not root, no cgroups) and fails it where it could but lacks packages: CI
// runs as root and installs them, so a real-node test never silently skips
// there.
func RequireRealNode(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real node, not started with -short")
	}
	err := RealNodeSupported()
	var ns *NotSupportedError
	switch {
	case errors.As(err, &ns):
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
}

// WaitReadyEndpoints watches a Service's EndpointSlices until they list n
// ready endpoints.
func WaitReadyEndpoints(ctx context.Context, client kubernetes.Interface, ns, service string, n int) error {
	lw := cache.NewFilteredListWatchFromClient(client.DiscoveryV1().RESTClient(), "endpointslices", ns,
		func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName + "=" + service })
	return waitStore(ctx, lw, &discoveryv1.EndpointSlice{}, func(store cache.Store) bool {
		ready := 0
		for _, o := range store.List() {
			for _, e := range o.(*discoveryv1.EndpointSlice).Endpoints {
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					ready++
				}
			}
		}
		return ready == n
	})
}

const cniBinDir = "/usr/lib/cni"

// startRealNode starts containerd, the kubelet and kube-proxy, and returns
// once the node is Ready and the test images are imported.
func (c *Cluster) startRealNode(ctx context.Context) error {
	if err := RealNodeSupported(); err != nil {
		return err
	}
	n := &realNode{dir: c.path("node"), log: c.log.Info}
	n.sock = filepath.Join(n.dir, "containerd.sock")
	c.node = n
	host, err := claimHost(ctx, n.dir, func(f string, a ...any) { c.log.Warn(fmt.Sprintf(f, a...)) })
	if err != nil {
		return err
	}
	n.host = host
	steps := []step{
		{"configs", func(context.Context) error { return n.writeConfigs(c) }},
		{"containerd", func(ctx context.Context) error { return c.startContainerd(ctx, n) }},
		{"images", n.importImages},
		{"node role", c.bindNodeRole},
		{"kubelet", func(ctx context.Context) error { return c.startKubelet(ctx, n) }},
		{KubeProxy, func(ctx context.Context) error { return c.startKubeProxy(ctx, n) }},
		{"node ready", c.waitRealNodeReady},
	}
	return c.runSteps(ctx, "real node", steps)
}

func (n *realNode) path(name string) string { return filepath.Join(n.dir, name) }

// writeConfigs writes containerd's, the CNI network's, the kubelet's and
// kube-proxy's configuration and kubeconfigs.
func (n *realNode) writeConfigs(c *Cluster) error {
	files := map[string]string{
		"containerd.toml":           n.containerdConfig(),
		"net.d/10-cutover.conflist": cniConfig(n.path("ipam")),
		"kubelet.yaml":              n.kubeletConfig(),
		"kube-proxy.yaml":           n.kubeProxyConfig(),
		"kubelet.kubeconfig":        c.componentKubeconfig(kubeletUser, c.pki.kubeletToken),
		"kube-proxy.kubeconfig":     c.componentKubeconfig(kubeProxyUser, c.pki.kubeProxyToken),
	}
	for name, content := range files {
		p := n.path(name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// containerdConfig keeps containerd's root, state and socket under the node's
// dir. restrict_oom_score_adj: a sandbox without CAP_SYS_RESOURCE cannot
// lower a child's OOM score, and runc fails every container without it.
func (n *realNode) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, n.path("containerd/root"), n.path("containerd/state"), n.sock, n.sock+".ttrpc", SandboxImage, cniBinDir, n.path("net.d"))
}

// cniConfig is a bridge network on RealNodeSubnet. routes is empty: a pod
// gets no default route and reaches nothing beyond the bridge's subnet.
// ipMasq is off: nothing is translated onto the host's interfaces.
func cniConfig(ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "cutover",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [],
      "dataDir": %q
    }
  }]
}
`, RealNodeBridge, RealNodeSubnet, RealNodeIP, ipamDir)
}

// kubeletConfig: cgroup v1 and swap tolerated (this machine), no iptables
// chains of its own, logs and cgroups kept where teardown finds them, image
// GC off (the images are imported, never pulled).
func (n *realNode) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: /%s
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
resolvConf: ""
clusterDNS: []
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
serializeImagePulls: false
localStorageCapacityIsolation: false
nodeStatusUpdateFrequency: 2s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
shutdownGracePeriod: 0s
registerNode: true
`, RealNodeIP, cgroupRoot, n.sock, n.path("pod-logs"))
}

// cgroupRoot is the cgroup under which the kubelet puts every pod (kubepods
// inside it), created before and removed after.
const cgroupRoot = "cutover-node"

// kubeProxyConfig: nftables mode, NodePorts only on the node's bridge
// address, and no conntrack sysctls touched.
func (n *realNode) kubeProxyConfig() string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: %s
nodePortAddresses: ["%s/32"]
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
`, n.path("kube-proxy.kubeconfig"), RealNodeName, RealNodeSubnet, RealNodeIP)
}

// componentKubeconfig is a kubeconfig for a node component with its own
// token.
func (c *Cluster) componentKubeconfig(user, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster: {server: %q, certificate-authority: %q}
users:
- name: %q
  user: {token: %q}
contexts:
- name: testbed
  context: {cluster: testbed, user: %q}
current-context: testbed
`, c.APIServerURL(), c.pki.caCert, user, token, user)
}

func (c *Cluster) startContainerd(ctx context.Context, n *realNode) error {
	p, err := startProcess(n.dir, "containerd", mustLook("containerd"), "--config", n.path("containerd.toml"))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return waitFor(ctx, p, func() error {
		return exec.CommandContext(ctx, "ctr", "--address", n.sock, "version").Run()
	})
}

// bindNodeRole lets the kubelet's user act as a node (the API server
// authorizes with RBAC only).
func (c *Cluster) bindNodeRole(ctx context.Context) error {
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "testbed:" + RealNodeName},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: kubeletUser}},
	}
	_, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (c *Cluster) startKubelet(ctx context.Context, n *realNode) error {
	args := []string{
		"--config=" + n.path("kubelet.yaml"),
		"--kubeconfig=" + n.path("kubelet.kubeconfig"),
		"--root-dir=" + n.path("kubelet"),
		"--cert-dir=" + n.path("kubelet/pki"),
		"--hostname-override=" + RealNodeName,
		"--node-ip=" + RealNodeIP,
		"--node-labels=type=real",
		"--v=1",
	}
	return c.start(ctx, "kubelet", args, healthCheck{url: "http://127.0.0.1:10248/healthz"})
}

// KubeProxy is the name of the real node's kube-proxy process (see
// Freeze: a frozen kube-proxy keeps its rules, as a slow data plane does).
const KubeProxy = "kube-proxy"

func (c *Cluster) startKubeProxy(ctx context.Context, n *realNode) error {
	args := []string{"--config=" + n.path("kube-proxy.yaml"), "--v=1"}
	return c.start(ctx, KubeProxy, args, healthCheck{url: "http://127.0.0.1:10256/healthz"})
}

// waitRealNodeReady watches the real node until it is Ready and
// schedulable.
func (c *Cluster) waitRealNodeReady(ctx context.Context) error {
	lw := cache.NewListWatchFromClient(c.Client.CoreV1().RESTClient(), "nodes", "",
		fields.OneTermEqualSelector("metadata.name", RealNodeName))
	return waitStore(ctx, lw, &corev1.Node{}, func(store cache.Store) bool {
		for _, o := range store.List() {
			return schedulable(o.(*corev1.Node))
		}
		return false
	})
}

// waitFor polls check until it passes, the process exits, or a minute
// passes: a socket has no event to watch for.
func waitFor(ctx context.Context, p *process, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		last := check()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", p.name, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func mustLook(bin string) string {
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	return bin
}
