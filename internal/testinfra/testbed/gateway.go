package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// The Gateway API's resources the test bed writes.
var (
	crdsResource     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	gatewayClasses   = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gatewayclasses"}
	gatewaysResource = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
)

// GatewayBinEnv names the directory upstream/gateway.sh prints: traefik
// and the Gateway API CRDs. make test and make test-gateway set it.
const GatewayBinEnv = "CUTOVER_GATEWAY_BIN"

// GatewayClassName is the GatewayClass of the test bed's Traefik.
const GatewayClassName = "traefik"

// traefikController is the controllerName Traefik's Gateway provider
// answers to.
const traefikController = "traefik.io/gateway-controller"

// Gateway is a real Traefik (upstream/traefik) serving the Gateway API for
// one namespace: a Gateway named Name there, listening on URL, its
// Prometheus metrics at MetricsAddr. Traefik reaches a route's backends
// where their EndpointSlices say they are.
type Gateway struct {
	Namespace, Name string
	// URL is the listener's address: http://127.0.0.1:PORT.
	URL string
	// MetricsAddr is host:port of Traefik's /metrics.
	MetricsAddr string
	// AdminURL serves Traefik's ping and its API: /api/rawdata is the
	// configuration it runs.
	AdminURL string
	// BackendIP is an address on a dummy interface of the gateway's own,
	// where a test's backends listen: EndpointSlices refuse loopback
	// addresses, and test traffic goes nowhere else.
	BackendIP string
	link      string
	bin       string
	env, args []string
	restarts  int
	sidecar
}

// StartGateway installs the Gateway API CRDs and the GatewayClass (once
// per cluster; later calls find them), starts a Traefik that watches
// namespace ns, and creates its Gateway there; it returns once the Gateway
// is programmed. Stop it with Stop.
func (c *Cluster) StartGateway(ctx context.Context, ns string) (*Gateway, error) {
	bins := os.Getenv(GatewayBinEnv)
	if bins == "" {
		return nil, fmt.Errorf("%s is not set: upstream/gateway.sh builds the gateway and prints its directory", GatewayBinEnv)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	if err := installGatewayAPI(ctx, dyn, bins); err != nil {
		return nil, fmt.Errorf("install the Gateway API: %w", err)
	}
	dir, err := os.MkdirTemp("", "cutover-traefik-")
	if err != nil {
		return nil, err
	}
	g := &Gateway{Namespace: ns, Name: "gateway", sidecar: sidecar{dir: dir}}
	if err := g.addBackendIP(ctx); err != nil {
		return nil, errors.Join(err, g.Stop())
	}
	if err := g.start(ctx, c, dyn, filepath.Join(bins, "traefik")); err != nil {
		return nil, errors.Join(err, g.Stop())
	}
	return g, nil
}

// installGatewayAPI applies the standard channel's CRDs and the
// GatewayClass, and waits until the CRDs are established.
func installGatewayAPI(ctx context.Context, dyn dynamic.Interface, bins string) error {
	files, err := filepath.Glob(filepath.Join(bins, "gateway-api", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no Gateway API CRDs in %s (upstream/gateway.sh copies them): %v", bins, err)
	}
	for _, f := range files {
		if err := applyFile(ctx, dyn.Resource(crdsResource), f); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := waitEstablished(ctx, dyn, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "gateway.networking.k8s.io_"), ".yaml")+".gateway.networking.k8s.io"); err != nil {
			return err
		}
	}
	class := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
		"metadata": map[string]any{"name": GatewayClassName},
		"spec":     map[string]any{"controllerName": traefikController},
	}}
	return apply(ctx, dyn.Resource(gatewayClasses), class)
}

// applyFile server-side applies the one object of a YAML file.
func applyFile(ctx context.Context, r dynamic.NamespaceableResourceInterface, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return apply(ctx, r, u)
}

func apply(ctx context.Context, r dynamic.ResourceInterface, u *unstructured.Unstructured) error {
	body, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	_, err = r.Patch(ctx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "testbed", Force: &force})
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// waitEstablished waits until the CRD name serves its resources.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	return pollUntil(ctx, func() (bool, error) {
		crd, err := dyn.Resource(crdsResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return hasCondition(crd, "Established", ""), nil
	})
}

// hasCondition reports a True condition of status.conditions, of at
// least generation gen when gen is not "" (observedGeneration).
func hasCondition(u *unstructured.Unstructured, typ, gen string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == "True" && (gen == "" || fmt.Sprint(m["observedGeneration"]) == gen) {
			return true
		}
	}
	return false
}

// pollUntil calls done every 100 ms until it says so, fails, or ctx ends.
// The test bed waits for its own setup this way; cutover watches.
func pollUntil(ctx context.Context, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		ok, err := done()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (g *Gateway) start(ctx context.Context, c *Cluster, dyn dynamic.Interface, traefik string) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	g.URL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	g.MetricsAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	g.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	g.bin, g.env = traefik, []string{"KUBECONFIG=" + c.Kubeconfig}
	g.args = []string{
		fmt.Sprintf("--entryPoints.web.address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--entryPoints.metrics.address=%s", g.MetricsAddr),
		fmt.Sprintf("--entryPoints.traefik.address=127.0.0.1:%d", ports[2]),
		"--ping=true", "--ping.entryPoint=traefik", "--api=true", "--api.insecure=true",
		"--metrics.prometheus=true", "--metrics.prometheus.entryPoint=metrics",
		"--metrics.prometheus.addServicesLabels=true", "--metrics.prometheus.addRoutersLabels=true",
		"--providers.kubernetesgateway=true", "--providers.kubernetesgateway.namespaces=" + g.Namespace,
		"--providers.providersThrottleDuration=0s",
		"--providers.kubernetesgateway.throttleDuration=0s",
		"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false", // nothing leaves the machine
		"--log.level=INFO"}
	if err := g.launch(ctx, "traefik"); err != nil {
		return err
	}
	return g.program(ctx, dyn, ports[0])
}

// launch starts Traefik, its log named name, and waits until it answers
// its ping.
func (g *Gateway) launch(ctx context.Context, name string) error {
	var err error
	if g.proc, err = startProcessEnv(g.dir, name, g.bin, g.env, g.args...); err != nil {
		return err
	}
	if err := waitHealthy(ctx, g.proc, healthCheck{url: g.AdminURL + "/ping"}); err != nil {
		return fmt.Errorf("%w\n%s", err, g.proc.tail(20))
	}
	return nil
}

// Restart kills Traefik (SIGKILL: a crash, or its node lost), waits down,
// and starts it again on the same ports; it returns once it answers its
// ping. It then reads the routes anew from the API server: until it has,
// it answers 404.
func (g *Gateway) Restart(ctx context.Context, down time.Duration) error {
	_ = syscall.Kill(-g.proc.pid(), syscall.SIGKILL)
	<-g.proc.done
	g.restarts++
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	return g.launch(ctx, fmt.Sprintf("traefik-restart-%d", g.restarts))
}

// program creates the Gateway, listening on port, and waits until
// Traefik reports it programmed.
func (g *Gateway) program(ctx context.Context, dyn dynamic.Interface, port int) error {
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": g.Name, "namespace": g.Namespace},
		"spec": map[string]any{
			"gatewayClassName": GatewayClassName,
			"listeners": []any{map[string]any{"name": "web", "protocol": "HTTP", "port": int64(port),
				"allowedRoutes": map[string]any{"namespaces": map[string]any{"from": "Same"}}}},
		},
	}}
	r := dyn.Resource(gatewaysResource).Namespace(g.Namespace)
	if err := apply(ctx, r, gw); err != nil {
		return err
	}
	err := pollUntil(ctx, func() (bool, error) {
		got, err := r.Get(ctx, g.Name, metav1.GetOptions{})
		return err == nil && hasCondition(got, "Programmed", ""), err
	})
	if err != nil {
		return fmt.Errorf("gateway %s/%s not programmed: %w\n%s", g.Namespace, g.Name, err, g.proc.tail(20))
	}
	return nil
}

// addBackendIP creates the gateway's bridge, without ports, named and numbered
// after a free port so that parallel gateways do not collide, with
// BackendIP on it, in 198.18.0.0/15 (RFC 2544's benchmarking range:
// nothing real answers there).
func (g *Gateway) addBackendIP(ctx context.Context) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	n := ports[0]
	g.link = fmt.Sprintf("cogw%d", n)
	g.BackendIP = fmt.Sprintf("198.18.%d.%d", n/256%256, n%256)
	for _, args := range [][]string{
		{"link", "add", g.link, "type", "bridge"},
		{"addr", "add", g.BackendIP + "/32", "dev", g.link},
		{"link", "set", g.link, "up"},
	} {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s (the gateway needs root)", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// Stop stops Traefik, removes its interface and its directory; the
// Gateway object goes with its namespace.
func (g *Gateway) Stop() error {
	stopped := g.stopped
	err := g.stop()
	if g.link != "" && !stopped {
		if out, lerr := exec.Command("ip", "link", "del", g.link).CombinedOutput(); lerr != nil {
			err = errors.Join(err, fmt.Errorf("ip link del %s: %w: %s", g.link, lerr, out))
		}
	}
	return err
}

// RequireGateway starts a Gateway for the test's namespace ns, stopped
// when the test ends. The gateway's tests are a tier of their own, as the
// benchmarks are: they run with make test (and make test-gateway), which builds Traefik
// and sets GatewayBinEnv; without it, and with -short, they are skipped.
func (c *Cluster) RequireGateway(t testing.TB, ns string) *Gateway {
	t.Helper()
	if testing.Short() || os.Getenv(GatewayBinEnv) == "" {
		t.Skip("needs the test bed's gateway: make test or make test-gateway")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := c.StartGateway(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("traefik log:\n" + g.Logs(60))
		}
		if err := g.Stop(); err != nil {
			t.Error(err)
		}
	})
	return g
}
