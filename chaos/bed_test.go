package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cutover/cutover/internal/testinfra/dataplane"
)

// Names in the manifests.
const (
	prodService = "tomcat-service"
	app         = "tomcat-service"                   // blue/green's app name: --service
	rollingApp  = "tomcat-deployment-rolling-update" // a rolling update's: its Deployment's name
)

var colors = []string{"blue", "green"}

// bed is one scenario's world: its namespace and manifests, the data plane
// standing in for the pods and kube-proxy, and the check server that
// cutover's --verify-url reaches.
type bed struct {
	s         Scenario
	ns        string
	manifests map[string]string // directory by release
	dp        *dataplane.DataPlane
	prod      *dataplane.Router
	test      map[string]*dataplane.Router // blue/green test Services by color
	check     *checkServer
	// config is a canary's config file: the check its analysis step runs,
	// or through the gateway, the route and the background analysis.
	config string
	// gw is a gateway canary's Traefik and Prometheus; nil otherwise.
	gw *gatewayBed
	// log carries the data plane's log into the auditor's timeline once
	// the scenario's auditor runs.
	log *notes
}

func newBed(ctx context.Context, t *testing.T, s Scenario) (*bed, error) {
	b := &bed{s: s, ns: cluster.Namespace(t), manifests: map[string]string{}, test: map[string]*dataplane.Router{}, log: newNotes()}
	dir := t.TempDir()
	var err error
	if s.Gateway {
		if b.gw, b.config, err = newGatewayBed(t, b.ns, dir); err != nil {
			return nil, err
		}
	}
	for _, rel := range []string{"7", "8"} {
		if b.manifests[rel], err = s.writeManifests(dir, rel); err != nil {
			return nil, err
		}
		if b.gw == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(b.manifests[rel], "route.yaml"), []byte(gatewayRoute(b.gw.gw.Name)), 0o600); err != nil {
			return nil, err
		}
	}
	// BackendWait covers the pod watch reconnecting later than the
	// EndpointSlice watch after an API server restart (client-go's backoff
	// reaches seconds), which would otherwise show as 502s that no real
	// kube-proxy would give. No MaxGrace: a pod deleted while the API
	// server was down (its deletionTimestamp never seen) keeps serving for
	// its whole grace period, as a real app does after SIGTERM, while the
	// EndpointSlice controller, itself catching up, still lists it.
	dp, err := dataplane.Start(ctx, dataplane.Options{Config: cluster.Config, Namespace: b.ns,
		BackendWait: 15 * time.Second, Logger: slog.New(b.log), PodAddresses: s.Gateway})
	if err != nil {
		return nil, err
	}
	t.Cleanup(dp.Close)
	b.dp = dp
	if b.prod, err = dp.Route(ctx, b.ns, prodService, intstr.FromInt32(80)); err != nil {
		return nil, err
	}
	if s.Strategy == BlueGreen {
		for _, c := range colors {
			if b.test[c], err = dp.Route(ctx, b.ns, "tomcat-test-"+c, intstr.FromInt32(80)); err != nil {
				return nil, err
			}
		}
	}
	b.check = newCheckServer(b)
	t.Cleanup(b.check.srv.Close)
	if s.Strategy == Canary && !s.Gateway {
		if b.config, err = writeCanaryConfig(dir, b.check.srv.URL); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// kube are the connection flags of every cutover command.
func (b *bed) kube() []string {
	return []string{"--kubeconfig", cluster.Kubeconfig, "-n", b.ns}
}

// deployArgs is the deploy command of a release.
// appName is the scenario's app: it names the lock and the records.
func (s Scenario) appName() string {
	if s.Strategy == BlueGreen {
		return app
	}
	return rollingApp // a canary's too: its stable Deployment's name
}

func (b *bed) deployArgs(release string) []string {
	s := b.s
	args := append([]string{"deploy", "-f", b.manifests[release], "-o", "json", "--timeout", "3m",
		"--var", "TOMCAT_VERSION=" + release}, b.kube()...)
	switch s.Strategy {
	case BlueGreen:
		args = append(args, "--strategy", "blue-green", "--service", prodService,
			"--idle-policy", s.IdlePolicy, "--scale-down-delay", "1s")
	case Canary: // release 7 is a first release: it rolls out in full
		args = append(args, "--strategy", "canary", "--steps", s.Steps, "-c", b.config, "--scale-down-delay", "1s")
		if s.DynamicStable {
			args = append(args, "--dynamic-stable-scale")
		}
	}
	if s.Verify {
		attempts := 25
		if release == "8" && (s.Fault == CheckStaged || s.Fault == CheckProd) {
			attempts = 3
		}
		args = append(args, "--verify-url", b.check.url(), "--verify-contains", "Apache Tomcat/"+release,
			"--verify-attempts", strconv.Itoa(attempts), "--verify-interval", "200ms", "--verify-timeout", "2s")
	}
	if !*flagGuard {
		args = append(args, "--endpoint-guard=false")
	}
	if release == "8" && s.Fault == Reject {
		args = append(args, "--approval", "manual", "--approval-timeout", "2m")
	}
	return args
}

// checkMode says what the check server answers.
type checkMode int32

const (
	checkPass       checkMode = iota // pass through to the app
	checkFailStaged                  // fail before production switched (rolling: always)
	checkFailProd                    // fail once production selects the color
)

// checkServer is what --verify-url reaches: /{color} for blue/green, the
// color's test Service; /prod for rolling and canary, production. It passes
// requests through to the data plane router of that Service, or fails them
// as the scenario's check fault asks. /errors is a canary's analysis: the
// users' failed share (failedShare).
type checkServer struct {
	b    *bed
	srv  *httptest.Server
	mode atomic.Int32
}

func newCheckServer(b *bed) *checkServer {
	c := &checkServer{b: b}
	mux := http.NewServeMux()
	mux.HandleFunc("/errors", c.failedShare)
	mux.HandleFunc("/", c.serve)
	c.srv = httptest.NewServer(mux)
	return c
}

func (c *checkServer) url() string {
	if c.b.s.Strategy == BlueGreen {
		return c.srv.URL + "/{color}"
	}
	return c.srv.URL + "/prod"
}

func (c *checkServer) set(m checkMode) { c.mode.Store(int32(m)) }

func (c *checkServer) serve(w http.ResponseWriter, r *http.Request) {
	target := strings.Trim(r.URL.Path, "/")
	router := c.b.prod
	if c.b.s.Strategy == BlueGreen {
		router = c.b.test[target]
	}
	if router == nil {
		http.Error(w, "no such check target "+target, http.StatusNotFound)
		return
	}
	if fail, why := c.fails(r.Context(), target); fail {
		http.Error(w, "chaos: failing check ("+why+")", http.StatusInternalServerError)
		return
	}
	status, body, err := get(r.Context(), router.URL())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// fails decides whether the check of target fails now.
func (c *checkServer) fails(ctx context.Context, target string) (bool, string) {
	mode := checkMode(c.mode.Load())
	if mode == checkPass {
		return false, ""
	}
	if c.b.s.Strategy == Rolling {
		return true, "verify"
	}
	svc, err := cluster.Client.CoreV1().Services(c.b.ns).Get(ctx, prodService, metav1.GetOptions{})
	if err != nil {
		return true, err.Error()
	}
	prod := svc.Spec.Selector["role"] == target
	switch {
	case mode == checkFailStaged && !prod:
		return true, "staged " + target
	case mode == checkFailProd && prod:
		return true, "production on " + target
	}
	return false, ""
}

var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", url, err)
	}
	return resp.StatusCode, string(body), nil
}
