// Package testbed runs a real Kubernetes control plane on loopback for tests
// and the demo: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler built from upstream sources at pinned versions, with kwok
// playing the kubelet for a few fake nodes. See stages.yaml for how pods
// behave and README.md for the figures.
package testbed

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

//go:embed stages.yaml
var stagesYAML []byte

// Options configure a test bed. The zero value is usable.
type Options struct {
	// BinDir holds the upstream binaries; default $CUTOVER_TESTBED_BIN, else
	// upstream/build.sh finds or builds them.
	BinDir string
	// Dir is the working directory (keys, data, logs); default a new temp dir,
	// removed on Stop.
	Dir string
	// Nodes is the number of fake (kwok) nodes; default 3, or none with
	// RealNode (-1 asks for none in any case).
	Nodes int
	// RealNode adds a real node (containerd, kubelet, kube-proxy) to the
	// fake ones; see RealNodeSupported for what it needs.
	RealNode bool
	// KubeconfigPath, if set, also receives a copy of the admin kubeconfig.
	KubeconfigPath string
	// Logger receives progress; default discards.
	Logger *slog.Logger
}

// Cluster is a running test bed.
type Cluster struct {
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	// Config is the admin REST config.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface

	dir       string
	ownDir    bool
	bins      string
	pki       *pki
	ports     ports
	procs     []*process
	log       *slog.Logger
	stopOnce  sync.Once
	frozenMu  sync.Mutex
	frozen    []*Frozen
	node      *realNode // nil without a real node
	stopErr   error
	StartedIn time.Duration
	routeMu   sync.Mutex
	podRoute  bool     // ReachablePods added the pod range's route
	podBlock  int      // the pod range's /22 block (podRange)
	podLock   *os.File // holds podBlock for this test bed
}

type ports struct {
	etcd, etcdPeer, apiserver, controllerManager, endpointSlice, scheduler, kwok int
}

// Start builds (if needed) and starts a control plane, and returns once every
// component is healthy and the fake nodes are Ready. On error nothing it
// started is left running.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	began := time.Now()
	c, err := newCluster(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := c.boot(ctx, opts); err != nil {
		tails := c.LogTails(20)
		_ = c.Stop()
		return nil, fmt.Errorf("start test bed: %w\n%s", err, tails)
	}
	c.StartedIn = time.Since(began)
	c.log.Info("test bed ready", "took", c.StartedIn.Round(time.Millisecond))
	return c, nil
}

func newCluster(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bins, err := binDir(ctx, opts.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: opts.Dir, bins: bins, log: log}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "cutover-testbed-"); err != nil {
			return nil, fmt.Errorf("create test bed dir: %w", err)
		}
		c.ownDir = true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create test bed dir: %w", err)
	}
	if c.pki, err = newPKI(c.dir); err != nil {
		c.removeDir()
		return nil, fmt.Errorf("generate test bed keys: %w", err)
	}
	p, err := freePorts(7)
	if err != nil {
		c.removeDir()
		return nil, err
	}
	c.ports = ports{p[0], p[1], p[2], p[3], p[4], p[5], p[6]}
	if err := c.claimPodBlock(); err != nil {
		c.removeDir()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) boot(ctx context.Context, opts Options) error {
	steps := []step{
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"kubeconfig", func(context.Context) error { return c.writeKubeconfig(opts.KubeconfigPath) }},
		{"kube-controller-manager", c.startControllerManager},
		{EndpointSliceController, c.startEndpointSliceController},
		{"kube-scheduler", c.startScheduler},
		{"kwok", c.startKwok},
		{"nodes", func(ctx context.Context) error { return c.registerNodes(ctx, fakeNodes(opts)) }},
		{"service accounts", func(ctx context.Context) error { return c.waitServiceAccount(ctx, "default") }},
	}
	if opts.RealNode {
		steps = append(steps, step{"real node", c.startRealNode})
	}
	return c.runSteps(ctx, "test bed", steps)
}

// step is one step of a start-up.
type step struct {
	name string
	run  func(context.Context) error
}

// runSteps runs steps in order, logging how long each took, and stops at
// the first error, which names the step.
func (c *Cluster) runSteps(ctx context.Context, what string, steps []step) error {
	for _, s := range steps {
		t := time.Now()
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		c.log.Debug(what+" step done", "step", s.name, "took", time.Since(t).Round(time.Millisecond))
	}
	return nil
}

// fakeNodes is the number of kwok nodes to register.
func fakeNodes(opts Options) int {
	switch {
	case opts.Nodes > 0:
		return opts.Nodes
	case opts.Nodes < 0 || opts.RealNode:
		return 0
	}
	return 3
}

// Dir is the working directory holding keys, data and component logs.
func (c *Cluster) Dir() string { return c.dir }

// APIServerURL is the https URL of the API server.
func (c *Cluster) APIServerURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.ports.apiserver)
}

// PIDs returns the process IDs of the running components, by name.
func (c *Cluster) PIDs() map[string]int {
	out := make(map[string]int, len(c.procs))
	for _, p := range c.procs {
		out[p.name] = p.pid()
	}
	return out
}

// LogTails returns the last n lines of every component's log.
func (c *Cluster) LogTails(n int) string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "----- %s (%s) last %d lines -----\n%s\n", p.name, p.logPath, n, p.tail(n))
	}
	return b.String()
}

// Stop stops every component, newest first, and removes the working directory
// if Start created it. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.thawAll() // a stopped process takes no SIGTERM
		var errs []error
		for i := len(c.procs) - 1; i >= 0; i-- {
			errs = append(errs, c.procs[i].stop(5*time.Second))
		}
		if c.node != nil && c.node.host != nil {
			errs = append(errs, c.node.host.release(context.Background()))
		}
		errs = append(errs, c.removePodRoute())
		c.releasePodBlock()
		c.stopErr = errors.Join(errs...)
		if c.stopErr == nil {
			c.removeDir()
		}
	})
	return c.stopErr
}

func (c *Cluster) removeDir() {
	if c.ownDir {
		_ = os.RemoveAll(c.dir)
	}
}

func (c *Cluster) path(name string) string { return filepath.Join(c.dir, name) }
