// Command cutover-testbed runs the local Kubernetes control plane that
// cutover's tests and demo use, in the foreground, until Ctrl-C or SIGTERM.
//
//	go run ./cmd/cutover-testbed [-kubeconfig .testbed/kubeconfig] [-nodes 3] [-gateway 127.0.0.1:8080] [-real-node]
//
// With -real-node (as root, after upstream/realnode-deps.sh) it also runs a
// real node: containerd, a kubelet and kube-proxy on this machine, whose pods
// answer HTTP on the bridge cutover0 (10.213.0.0/24) through kube-proxy.
// Without -nodes it then registers no fake node.
//
// With -gateway it also runs the data plane (internal/testinfra/dataplane): an HTTP
// backend per ready pod and a gateway that routes /NAMESPACE/SERVICE/PATH
// through the Service's ready endpoints, and prints "gateway: URL".
//
// With -traefik NAMESPACE (as root, with CUTOVER_GATEWAY_BIN from
// upstream/gateway.sh) it also runs a real Traefik serving the Gateway API
// for that namespace (created if missing), the pods reachable at their own
// IPs, and a Prometheus scraping Traefik every second; it prints
// "traefik: URL gateway=NAME" and "prometheus: URL". Once every component
// is healthy it prints:
//
//	testbed ready: kubeconfig=<absolute path>
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cutover-testbed:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", ".testbed/kubeconfig", "where to write the admin kubeconfig")
	nodes := flag.Int("nodes", 0, "number of fake nodes (default 3, or 0 with -real-node)")
	realNode := flag.Bool("real-node", false, "also run a real node: containerd, kubelet and kube-proxy (root)")
	verbose := flag.Bool("v", false, "log each start-up step")
	gateway := flag.String("gateway", "", "also serve HTTP for the fake pods: a gateway on this address (e.g. 127.0.0.1:8080) routes /NAMESPACE/SERVICE/PATH through the Service's ready endpoints")
	traefik := flag.String("traefik", "", "also run a real Traefik (the Gateway API) for this namespace, and a Prometheus scraping it (root; CUTOVER_GATEWAY_BIN)")
	flag.Parse()

	abs, err := filepath.Abs(*kubeconfig)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cluster, err := testbed.Start(ctx, testbed.Options{Nodes: *nodes, RealNode: *realNode, KubeconfigPath: abs, Logger: log})
	if err != nil {
		return err
	}
	if *traefik != "" {
		stopTraefik, err := startTraefik(ctx, cluster, *traefik)
		if err != nil {
			_ = cluster.Stop()
			return err
		}
		defer stopTraefik()
	}
	var dp *dataplane.DataPlane
	if *gateway != "" || *traefik != "" {
		dp, err = dataplane.Start(ctx, dataplane.Options{Config: cluster.Config, Logger: log, PodAddresses: *traefik != ""})
		if err != nil {
			_ = cluster.Stop()
			return err
		}
		defer dp.Close()
	}
	if *gateway != "" {
		gw, err := dp.Gateway(*gateway)
		if err != nil {
			_ = cluster.Stop()
			return err
		}
		fmt.Printf("gateway: %s\n", gw.URL())
	}
	fmt.Printf("testbed ready: kubeconfig=%s\n", abs)
	<-ctx.Done()
	log.Info("stopping test bed")
	if err := cluster.Stop(); err != nil {
		return err
	}
	_ = os.Remove(abs)
	return nil
}

// startTraefik runs a real Traefik for namespace ns, creating it, with the
// pods reachable at their IPs, and a Prometheus scraping Traefik; it
// prints where they listen and returns what stops them.
func startTraefik(ctx context.Context, cluster *testbed.Cluster, ns string) (func(), error) {
	_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	if err := cluster.ReachablePods(ctx); err != nil {
		return nil, err
	}
	gw, err := cluster.StartGateway(ctx, ns)
	if err != nil {
		return nil, err
	}
	prom, err := testbed.StartPrometheus(ctx, testbed.PrometheusOptions{Targets: []string{gw.MetricsAddr}})
	if err != nil {
		_ = gw.Stop()
		return nil, err
	}
	fmt.Printf("traefik: %s gateway=%s\n", gw.URL, gw.Name)
	fmt.Printf("prometheus: %s\n", prom.URL)
	return func() { _ = prom.Stop(); _ = gw.Stop() }, nil
}
