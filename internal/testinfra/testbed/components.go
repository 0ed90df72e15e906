package testbed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func (c *Cluster) start(ctx context.Context, name string, args []string, health healthCheck) error {
	return c.startBinary(ctx, name, name, args, health)
}

// startBinary starts the component name from the binary bin.
func (c *Cluster) startBinary(ctx context.Context, name, bin string, args []string, health healthCheck) error {
	p, err := startProcess(c.dir, name, filepath.Join(c.bins, bin), args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return waitHealthy(ctx, p, health)
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	client := fmt.Sprintf("http://127.0.0.1:%d", c.ports.etcd)
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.ports.etcdPeer)
	args := []string{
		"--name=testbed",
		"--data-dir=" + c.path("etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=testbed=" + peer,
		"--unsafe-no-fsync", // a test bed trades durability on power loss for speed
		"--log-level=warn",
	}
	return c.start(ctx, "etcd", args, healthCheck{url: client + "/health"})
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	args := []string{
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", c.ports.etcd),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.ports.apiserver),
		"--endpoint-reconciler-type=none", // loopback cannot be a kubernetes Service endpoint
		"--cert-dir=" + c.path("apiserver-certs"),
		"--tls-cert-file=" + c.pki.servingCert,
		"--tls-private-key-file=" + c.pki.servingKey,
		"--client-ca-file=" + c.pki.caCert,
		"--token-auth-file=" + c.pki.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + c.pki.saPub,
		"--service-account-signing-key-file=" + c.pki.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--v=1",
	}
	return c.start(ctx, "kube-apiserver", args, healthCheck{
		url: c.APIServerURL() + "/readyz", token: c.pki.adminToken, ca: c.pki.caPEM,
	})
}

func (c *Cluster) writeKubeconfig(extra string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testbed"] = &clientcmdapi.Cluster{Server: c.APIServerURL(), CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos["testbed-admin"] = &clientcmdapi.AuthInfo{Token: c.pki.adminToken}
	cfg.Contexts["testbed"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "testbed-admin", Namespace: "default"}
	cfg.CurrentContext = "testbed"
	c.Kubeconfig = c.path("kubeconfig")
	for _, p := range []string{c.Kubeconfig, extra} {
		if p == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := clientcmd.WriteToFile(*cfg, p); err != nil {
			return fmt.Errorf("write kubeconfig %s: %w", p, err)
		}
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("admin rest config: %w", err)
	}
	rc.QPS, rc.Burst = 200, 400
	c.Config = rc
	c.Client, err = kubernetes.NewForConfig(rc)
	return err
}

// startControllerManager starts every controller but the EndpointSlice
// controller, which runs in a process of its own (startEndpointSliceController)
// so that tests can freeze it alone, as a stuck or lagging controller.
func (c *Cluster) startControllerManager(ctx context.Context) error {
	args := append(c.controllerManagerArgs(c.ports.controllerManager, "kcm-certs"), "--controllers=*,-"+endpointSliceController)
	return c.start(ctx, "kube-controller-manager", args, healthCheck{
		url: fmt.Sprintf("https://127.0.0.1:%d/healthz", c.ports.controllerManager), insecure: true,
	})
}

// endpointSliceController is the controller's name in --controllers.
const endpointSliceController = "endpointslice-controller"

// EndpointSliceController is the name of the process that runs the
// EndpointSlice controller alone (see Freeze).
const EndpointSliceController = "endpointslice-controller"

func (c *Cluster) startEndpointSliceController(ctx context.Context) error {
	args := append(c.controllerManagerArgs(c.ports.endpointSlice, "endpointslice-certs"), "--controllers="+endpointSliceController)
	return c.startBinary(ctx, EndpointSliceController, "kube-controller-manager", args, healthCheck{
		url: fmt.Sprintf("https://127.0.0.1:%d/healthz", c.ports.endpointSlice), insecure: true,
	})
}

func (c *Cluster) controllerManagerArgs(port int, certDir string) []string {
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + c.path(certDir),
		"--service-account-private-key-file=" + c.pki.saKey,
		"--root-ca-file=" + c.pki.caCert,
		"--cluster-name=testbed",
		// A busy production cluster's settings rather than the defaults
		// (20/30), so that hundreds of objects settle in seconds.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--v=1",
	}
}

func (c *Cluster) startScheduler(ctx context.Context) error {
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.ports.scheduler),
		"--cert-dir=" + c.path("scheduler-certs"),
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--v=1",
	}
	return c.start(ctx, "kube-scheduler", args, healthCheck{
		url: fmt.Sprintf("https://127.0.0.1:%d/healthz", c.ports.scheduler), insecure: true,
	})
}

func (c *Cluster) startKwok(ctx context.Context) error {
	stages := c.path("kwok-stages.yaml")
	if err := os.WriteFile(stages, stagesYAML, 0o600); err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", c.ports.kwok)
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--config=" + stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + nodeAnnotation + "=fake",
		"--server-address=" + addr,
		"--cidr=" + c.kwokCIDR(),
		"--node-ip=10.0.0.1",
	}
	return c.start(ctx, "kwok", args, healthCheck{url: "http://" + addr + "/healthz"})
}

// healthCheck is an HTTP endpoint that answers 200 once a component is up.
type healthCheck struct {
	url      string
	token    string
	ca       []byte
	insecure bool // the component's own self-signed certificate
}

func (h healthCheck) client() *http.Client {
	tlsCfg := &tls.Config{InsecureSkipVerify: h.insecure} //nolint:gosec // probing a local self-signed health port
	if h.ca != nil {
		tlsCfg.RootCAs = x509.NewCertPool()
		tlsCfg.RootCAs.AppendCertsFromPEM(h.ca)
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
}

// waitHealthy probes h until it answers 200, the process exits, or ctx or a
// minute runs out. A process has no event to watch for "listening", so this
// is the one place the test bed polls.
func waitHealthy(ctx context.Context, p *process, h healthCheck) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	client := h.client()
	defer client.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = probe(ctx, client, h); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy at %s: %w (last: %v)", p.name, h.url, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, client *http.Client, h healthCheck) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return err
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// freePorts reserves n distinct loopback ports by listening on them together,
// then releases them for the components to take.
func freePorts(n int) ([]int, error) {
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve port: %w", err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
