package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// flaggerBinEnv names the directory upstream/flagger.sh prints: the
// controller flagger and its CRDs in crd.yaml. make bench sets it as root.
const flaggerBinEnv = "CUTOVER_FLAGGER_BIN"

var (
	canaries = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}
	crds     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// flaggerCanary is Flagger's side of the benchmark: the MetricTemplate and
// the Canary of Deployment web, through Gateway GATEWAY of namespace NS.
// The steps (10, 50), the hold of each (the analysis interval, 10 s, the
// least Flagger takes) and the threshold (one failed check rolls back)
// are cutover's; the query is the same error ratio as cutover's, in
// percent as thresholdRange takes it (max 1: 1 %).
const flaggerCanary = `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate}
spec:
  provider:
    type: prometheus
    address: PROMETHEUS
  query: |
    100 * (QUERY)
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  progressDeadlineSeconds: 60
  service:
    port: 80
    targetPort: 8080
    gatewayRefs:
    - {name: GATEWAY, namespace: NS}
  analysis:
    interval: 10s
    threshold: 1
    stepWeights: [10, 50]
    metrics:
    - name: error-rate
      templateRef: {name: error-rate, namespace: NS}
      thresholdRange: {max: 1}
      interval: 10s
`

// flagger is a Flagger controller running out of cluster for one
// namespace, and what it is given to work with.
type flagger struct {
	dir     string // upstream/flagger.sh's output
	logPath string
	port    int
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	dyn     dynamic.Interface
}

// newFlagger installs Flagger's CRDs and starts its controller for
// namespace ns with the Gateway API v1 router, looking for new Canaries
// every second. Its log is a file of the test's; on failure the test
// prints its path and its tail. It stops when the test ends.
func newFlagger(t *testing.T, dir, ns, promURL string) *flagger {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := &flagger{dir: dir, logPath: filepath.Join(t.TempDir(), "flagger.log")}
	var err error
	if f.dyn, err = dynamic.NewForConfig(cluster.Config); err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	f.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	if err := f.installCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.start(t, ns, promURL); err != nil {
		t.Fatal(err)
	}
	if err := f.waitHealthy(ctx); err != nil {
		t.Fatalf("%v\nflagger log %s:\n%s", err, f.logPath, f.tail(30))
	}
	return f
}

// installCRDs applies crd.yaml and waits until Canary and MetricTemplate
// are served.
func (f *flagger) installCRDs(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join(f.dir, "crd.yaml"))
	if err != nil {
		return fmt.Errorf("flagger's CRDs: %w", err)
	}
	if err := f.apply(ctx, "", string(data)); err != nil {
		return fmt.Errorf("flagger's CRDs: %w", err)
	}
	for _, name := range []string{"canaries.flagger.app", "metrictemplates.flagger.app"} {
		if err := waitEstablished(ctx, f.dyn, name); err != nil {
			return err
		}
	}
	f.mapper.Reset() // the new kinds are served now
	return nil
}

// waitEstablished polls CRD name until it is Established (setup, not a
// measurement: a poll is enough).
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	for {
		crd, err := dyn.Resource(crds).Get(ctx, name, metav1.GetOptions{})
		if err == nil && hasTrueCondition(crd.Object, "Established") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w (last error: %v)", name, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func hasTrueCondition(obj map[string]any, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

// apply server-side applies every document of manifests, into namespace
// ns for namespaced kinds, as kubectl apply --server-side would.
func (f *flagger) apply(ctx context.Context, ns, manifests string) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := f.applyOne(ctx, ns, u); err != nil {
			return err
		}
	}
}

func (f *flagger) applyOne(ctx context.Context, ns string, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	m, err := f.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("map %s: %w", gvk, err)
	}
	var r dynamic.ResourceInterface = f.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		r = f.dyn.Resource(m.Resource).Namespace(ns)
	}
	body, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	if _, err := r.Patch(ctx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "bench", Force: &force}); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, u.GetName(), err)
	}
	return nil
}

// start runs the controller: -port on a free port (Flagger listens on
// every interface, 8080 by default, which make demo's gateway may hold);
// -metrics-server serves only its builtin metrics, the MetricTemplate
// names its own Prometheus.
func (f *flagger) start(t *testing.T, ns, promURL string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	f.port = port
	log, err := os.Create(f.logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(f.dir, "flagger"),
		"-kubeconfig="+cluster.Kubeconfig, "-mesh-provider=gatewayapi:v1", "-namespace="+ns,
		"-control-loop-interval=1s", fmt.Sprintf("-port=%d", port), "-metrics-server="+promURL,
		"-log-level=info", "-zap-encoding=console")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start flagger: %w", err)
	}
	t.Logf("flagger for %s on :%d, log %s", ns, port, f.logPath)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		stopped := make(chan struct{})
		go func() { _ = cmd.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-stopped
		}
		log.Close()
		if t.Failed() {
			t.Logf("flagger log %s, its tail:\n%s", f.logPath, f.tail(60))
		}
	})
	return nil
}

// waitHealthy polls Flagger's /healthz until it answers 200.
func (f *flagger) waitHealthy(ctx context.Context) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", f.port)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flagger's %s: %w (last error: %v)", url, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail is the last n lines of Flagger's log.
func (f *flagger) tail(n int) string {
	data, err := os.ReadFile(f.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// freePort is a TCP port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// canaryManifests is the MetricTemplate and the Canary for namespace ns.
func canaryManifests(ns, gateway, promURL, query string) string {
	query = strings.ReplaceAll(query, "\n", " ")
	return strings.NewReplacer("PROMETHEUS", promURL, "QUERY", query, "GATEWAY", gateway, "NS", ns).Replace(flaggerCanary)
}

// releasePatch is a release of Deployment web as Flagger expects one: a
// new pod template (image and answer), its replica count left to Flagger,
// which scaled web to zero. (A server-side apply of the whole Deployment
// would take replicas back from Flagger and start the release's pods
// before Flagger sees it.) A strategic merge patch keeps the container's
// ports, where the data plane listens.
func releasePatch(version, status string) []byte {
	return fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{"testbed.cutover.dev/http-status":%q}},`+
		`"spec":{"containers":[{"name":"web","image":"tomcat:%s"}]}}}}`, status, version)
}

// describeCanary is a one-line summary of a Canary for a failure message.
func describeCanary(u *unstructured.Unstructured) string {
	if u == nil {
		return "no canary seen"
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	weight, _, _ := unstructured.NestedInt64(u.Object, "status", "canaryWeight")
	failed, _, _ := unstructured.NestedInt64(u.Object, "status", "failedChecks")
	return fmt.Sprintf("phase %q, canary weight %d, failed checks %d", phase, weight, failed)
}
