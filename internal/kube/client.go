// Package kube connects to a cluster the way kubectl does: kubeconfig loading
// rules (KUBECONFIG, ~/.kube/config, in-cluster), --context and -n, and gives
// the dynamic client and a discovery-backed RESTMapper that work for any
// kind, CRDs included.
package kube

import (
	"fmt"
	"log/slog"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// Options select the cluster, as kubectl's flags do.
type Options struct {
	Kubeconfig string // --kubeconfig; empty: KUBECONFIG, then ~/.kube/config, then in-cluster
	Context    string // --context
	Namespace  string // -n; empty: the context's namespace, else "default"
	// QPS limits requests per second on the client side; 0 means no client
	// limit: the API server's priority and fairness protects it, and
	// cutover bounds its own concurrency instead.
	QPS       float32
	Burst     int
	UserAgent string
	// Log, at debug level, gets one line per API request (no bodies).
	Log *slog.Logger
}

// Clients are the connections cutover uses.
type Clients struct {
	Config    *rest.Config
	Dynamic   dynamic.Interface
	Typed     kubernetes.Interface
	Mapper    *restmapper.DeferredDiscoveryRESTMapper
	Namespace string // the effective default namespace
	// ExplicitNamespace is true when -n was given; objects in another
	// namespace are then an error, as with kubectl.
	ExplicitNamespace bool
}

// Connect builds clients from opts. It does not contact the cluster.
func Connect(opts Options) (*Clients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = opts.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.Context}
	overrides.Context.Namespace = opts.Namespace
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, fmt.Errorf("resolve namespace: %w", err)
	}
	cfg.QPS, cfg.Burst = orFloat(opts.QPS, -1), orInt(opts.Burst, 1000)
	if opts.UserAgent != "" {
		cfg.UserAgent = opts.UserAgent
	}
	if wrap := traceRequests(opts.Log); wrap != nil {
		cfg.Wrap(wrap)
	}
	return ForConfig(cfg, ns, opts.Namespace != "")
}

// ForConfig builds clients from a REST config.
func ForConfig(cfg *rest.Config, namespace string, explicit bool) (*Clients, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("typed client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	if namespace == "" {
		namespace = "default"
	}
	return &Clients{Config: cfg, Dynamic: dyn, Typed: typed, Mapper: mapper, Namespace: namespace, ExplicitNamespace: explicit}, nil
}

// PrefetchDiscovery starts reading the API server's discovery in the
// background, so that the first Mapping, which needs it, finds it read
// (or being read: it then waits for that read instead of starting its
// own). A failed read is not kept; Mapping reads again.
func (c *Clients) PrefetchDiscovery() {
	go func() { _, _ = c.Mapper.RESTMapping(schema.GroupKind{Kind: "Namespace"}, "v1") }()
}

// Mapping resolves a kind to its resource, refreshing discovery once when the
// kind is unknown (a CRD may just have been established).
func (c *Clients) Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		c.Mapper.Reset()
		m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

func orFloat(v, d float32) float32 {
	if v == 0 {
		return d
	}
	return v
}

func orInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// In returns clients whose default namespace is ns, sharing c's
// connections.
func (c *Clients) In(ns string) *Clients {
	out := *c
	out.Namespace, out.ExplicitNamespace = ns, true
	return &out
}

// As returns clients that act as another identity through impersonation:
// the API server authorizes each request as that identity and its audit
// log names it. The identity behind c needs the impersonate verb on it.
func (c *Clients) As(imp rest.ImpersonationConfig) (*Clients, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = imp
	return ForConfig(cfg, c.Namespace, c.ExplicitNamespace)
}
