package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Gateway is one HTTP address in front of every Service: a request for
// /NAMESPACE/SERVICE[:PORT]/PATH goes, as /PATH, through that Service's
// router (started on first use). It lets a demo or a check name a Service
// in a URL, e.g. http://127.0.0.1:8080/default/tomcat-test-{color}/.
type Gateway struct {
	dp  *DataPlane
	url string
	srv *http.Server

	mu      sync.Mutex
	routers map[string]*Router
}

// Gateway starts a gateway listening on addr ("127.0.0.1:0" picks a port).
// It runs until the data plane is closed or Close is called.
func (d *DataPlane) Gateway(addr string) (*Gateway, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{dp: d, url: "http://" + ln.Addr().String(), routers: map[string]*Router{}}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// URL is the gateway's base URL.
func (g *Gateway) URL() string { return g.url }

// Close stops the gateway; its routers stop with the data plane.
func (g *Gateway) Close() { _ = g.srv.Close() }

func (g *Gateway) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ns, svc, port, rest, ok := parseGatewayPath(req.URL.Path)
	if !ok {
		http.Error(w, "want /NAMESPACE/SERVICE[:PORT]/PATH", http.StatusNotFound)
		return
	}
	r, err := g.router(req.Context(), ns, svc, port)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req = req.Clone(req.Context())
	req.URL.Path, req.URL.RawPath = rest, ""
	r.ServeHTTP(w, req)
}

func (g *Gateway) router(ctx context.Context, ns, svc string, port intstr.IntOrString) (*Router, error) {
	key := ns + "/" + svc + ":" + port.String()
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.routers[key]; ok {
		return r, nil
	}
	r, err := g.dp.Route(ctx, ns, svc, port)
	if err != nil {
		return nil, err
	}
	g.routers[key] = r
	return r, nil
}

// parseGatewayPath splits /NAMESPACE/SERVICE[:PORT]/PATH.
func parseGatewayPath(p string) (ns, svc string, port intstr.IntOrString, rest string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", "", port, "", false
	}
	ns, svc = parts[0], parts[1]
	if name, num, found := strings.Cut(svc, ":"); found {
		svc, port = name, intstr.Parse(num)
	}
	rest = "/"
	if len(parts) == 3 {
		rest += parts[2]
	}
	return ns, svc, port, rest, true
}
