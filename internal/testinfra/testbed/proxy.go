package testbed

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// CountingProxy sits between one client and the API server and counts the
// requests that pass, so that benchmarks compare clients by the load they put
// on the API server. It serves TLS with the API server's own certificate.
type CountingProxy struct {
	// Kubeconfig is an admin kubeconfig that points at the proxy.
	Kubeconfig string

	srv    *http.Server
	mu     sync.Mutex
	counts map[string]int
}

// Client returns an admin client whose requests go through the proxy.
func (p *CountingProxy) Client() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// StartCountingProxy starts a proxy on a free loopback port.
func (c *Cluster) StartCountingProxy(name string) (*CountingProxy, error) {
	target, err := url.Parse(c.APIServerURL())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.pki.caPEM)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // stream watches
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 100}
	p := &CountingProxy{counts: map[string]int{}}
	cert, err := tls.LoadX509KeyPair(c.pki.servingCert, c.pki.servingKey)
	if err != nil {
		return nil, err
	}
	// HTTP/2 as the API server speaks it: clients multiplex their requests
	// over one connection instead of opening one per request in flight.
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		return nil, err
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count(r)
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(l) }()
	if p.Kubeconfig, err = c.proxyKubeconfig(name, l.Addr()); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (c *Cluster) proxyKubeconfig(name string, addr net.Addr) (string, error) {
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return "", err
	}
	cfg.Clusters["testbed"].Server = "https://" + addr.String()
	path := filepath.Join(c.dir, "kubeconfig-proxy-"+name)
	return path, clientcmd.WriteToFile(*cfg, path)
}

// count records a request by verb, resource path kind and watch-ness.
func (p *CountingProxy) count(r *http.Request) {
	verb := r.Method
	if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		verb = "WATCH"
	}
	p.mu.Lock()
	p.counts[verb]++
	p.mu.Unlock()
}

// Total returns the number of requests since the last Reset.
func (p *CountingProxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.counts {
		n += v
	}
	return n
}

// Breakdown describes the counts by verb, e.g. "GET 12, PATCH 3, WATCH 2".
func (p *CountingProxy) Breakdown() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := make([]string, 0, len(p.counts))
	for k, v := range p.counts {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// Reset zeroes the counts.
func (p *CountingProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int{}
}

// Close stops the proxy.
func (p *CountingProxy) Close() { _ = p.srv.Close() }
