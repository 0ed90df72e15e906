// Package bench measures cutover against kubectl on the test bed, side by
// side in one run: `make bench`. It is skipped unless CUTOVER_BENCH=1.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var cluster *testbed.Cluster

func TestMain(m *testing.M) {
	if os.Getenv("CUTOVER_BENCH") == "" {
		fmt.Println("bench: skipped; run `make bench` (CUTOVER_BENCH=1)")
		os.Exit(0)
	}
	os.Exit(testbed.Run(m, &cluster))
}

// measurement is one timed run of one tool.
type measurement struct {
	wall     time.Duration
	requests int
	detail   string
	rssKB    int64
}

// runTool runs argv through a counting proxy and measures it. The kubeconfig
// path replaces the string KUBECONFIG in argv.
func runTool(t *testing.T, name string, argv []string) measurement {
	t.Helper()
	proxy, err := cluster.StartCountingProxy(name)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	for i, a := range argv {
		argv[i] = strings.ReplaceAll(a, "KUBECONFIG", proxy.Kubeconfig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out.String())
	}
	m := measurement{wall: wall, requests: proxy.Total(), detail: proxy.Breakdown()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rssKB = ru.Maxrss
	}
	return m
}

func kubectl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found: no peer to measure against")
	}
	return p
}

func cutoverBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cutover")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/cutover")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cutover: %v\n%s", err, out)
	}
	return bin
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// pods are refused until the default ServiceAccount exists
	for i := 0; i < 200; i++ {
		if _, err := cluster.Client.CoreV1().ServiceAccounts(name).Get(context.Background(), "default", metav1.GetOptions{}); err == nil {
			return name
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("namespace %s: no default service account", name)
	return ""
}

const rollingApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 10
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        testbed.cutover.dev/ready-after: 500ms
    spec:
      containers:
      - name: tomcat
        image: tomcat:%d
`

// TestRollingUpdate is workload (a): a rolling update of a 10-replica
// Deployment whose pods are ready after 500 ms.
func TestRollingUpdate(t *testing.T) {
	kc, cut := kubectl(t), cutoverBin(t)
	const rounds = 3
	dir := t.TempDir()
	nsC, nsK := namespace(t, "bench-a-cutover"), namespace(t, "bench-a-kubectl")
	var cutRuns, kubeRuns []measurement
	for v := 0; v <= rounds; v++ {
		file := filepath.Join(dir, fmt.Sprintf("v%d.yaml", v))
		if err := os.WriteFile(file, []byte(fmt.Sprintf(rollingApp, 100+v)), 0o600); err != nil {
			t.Fatal(err)
		}
		c := runTool(t, "cutover", []string{cut, "deploy", "-f", file, "-n", nsC, "--kubeconfig", "KUBECONFIG", "-o", "json"})
		k1 := runTool(t, "kubectl-apply", []string{kc, "apply", "-f", file, "-n", nsK, "--kubeconfig", "KUBECONFIG"})
		k2 := runTool(t, "kubectl-status", []string{kc, "rollout", "status", "deployment/web", "-n", nsK, "--kubeconfig", "KUBECONFIG", "--timeout=5m"})
		if v == 0 {
			continue // the first round creates; the update rounds are measured
		}
		cutRuns = append(cutRuns, c)
		kubeRuns = append(kubeRuns, measurement{wall: k1.wall + k2.wall, requests: k1.requests + k2.requests,
			detail: k1.detail + " + " + k2.detail, rssKB: max(k1.rssKB, k2.rssKB)}) // the larger of the two processes
	}
	report(t, "(a) rolling update, 10 replicas, ready after 500ms", cutRuns, kubeRuns)
}

// TestApply500 is workload (b): 500 objects applied into an empty namespace.
func TestApply500(t *testing.T) {
	kc, cut := kubectl(t), cutoverBin(t)
	file := filepath.Join(t.TempDir(), "500.yaml")
	if err := os.WriteFile(file, []byte(fiveHundred()), 0o600); err != nil {
		t.Fatal(err)
	}
	const rounds = 3
	var cutRuns, kubeRuns []measurement
	for i := range rounds {
		nsC, nsK := namespace(t, fmt.Sprintf("bench-b-cutover-%d", i)), namespace(t, fmt.Sprintf("bench-b-kubectl-%d", i))
		cutRuns = append(cutRuns, runTool(t, "cutover", []string{cut, "deploy", "-f", file, "-n", nsC, "--kubeconfig", "KUBECONFIG", "-o", "json"}))
		kubeRuns = append(kubeRuns, runTool(t, "kubectl", []string{kc, "apply", "--server-side", "-f", file, "-n", nsK, "--kubeconfig", "KUBECONFIG"}))
	}
	report(t, "(b) apply 500 objects (ConfigMaps, Services, Deployments at 0 replicas)", cutRuns, kubeRuns)
}

func fiveHundred() string {
	var b strings.Builder
	for i := 0; i < 500; i++ {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\ndata:\n  key: value-%d\n", i, i)
		case 1:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%03d\nspec:\n  selector: {app: a%03d}\n  ports:\n  - port: 80\n", i, i)
		case 2:
			fmt.Fprintf(&b, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dep-%03d\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: a%03d}\n  template:\n    metadata:\n      labels: {app: a%03d}\n    spec:\n      containers:\n      - name: c\n        image: nginx:1\n", i, i, i)
		}
	}
	return b.String()
}

func median(ms []measurement, f func(measurement) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func report(t *testing.T, title string, cut, kube []measurement) {
	wall := func(m measurement) float64 { return m.wall.Seconds() }
	reqs := func(m measurement) float64 { return float64(m.requests) }
	rss := func(m measurement) float64 { return float64(m.rssKB) / 1024 }
	cw, kw := median(cut, wall), median(kube, wall)
	cr, kr := median(cut, reqs), median(kube, reqs)
	fmt.Printf("\n%s (median of %d runs)\n", title, len(cut))
	fmt.Printf("  %-8s wall %6.2fs  requests %4.0f  peak RSS %5.1f MiB  [%s]\n", "cutover", cw, cr, median(cut, rss), cut[0].detail)
	fmt.Printf("  %-8s wall %6.2fs  requests %4.0f  peak RSS %5.1f MiB  [%s]\n", "kubectl", kw, kr, median(kube, rss), kube[0].detail)
	fmt.Printf("  ratio cutover/kubectl: wall %.2f, requests %.2f; kubectl/cutover wall: %.1fx\n", cw/kw, cr/kr, kw/cw)
}
