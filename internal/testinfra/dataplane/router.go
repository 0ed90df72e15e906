package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
)

// Outcome is what became of one request through a router.
type Outcome struct {
	// Time is when the router received the request.
	Time     time.Time
	Duration time.Duration
	// Status is the status answered to the client: the backend's, 502 when
	// the backend could not be reached, 503 with no usable endpoint.
	Status int
	// Pod is the backend's pod; "" with no usable endpoint.
	Pod string
	// Terminating reports that the request went to a terminating endpoint
	// because none was ready.
	Terminating bool
	// Err says why the router failed the request; "" when the backend
	// answered.
	Err string
}

// Failed reports whether the request failed: a router error or a status
// other than 2xx.
func (o Outcome) Failed() bool { return o.Err != "" || o.Status < 200 || o.Status > 299 }

// EndpointsChange is a change of the endpoints a router sends requests to.
type EndpointsChange struct {
	Time      time.Time
	Endpoints []Endpoint
}

// Router is a reverse proxy standing in for kube-proxy in front of one
// Service port.
type Router struct {
	dp                 *DataPlane
	namespace, service string
	port               intstr.IntOrString
	url                string
	srv                *http.Server
	proxy              *httputil.ReverseProxy
	log                *slog.Logger
	cancel             context.CancelFunc
	informers          sync.WaitGroup
	served             chan struct{}
	services, slices   cache.Store
	next               atomic.Uint64
	once               sync.Once

	mu        sync.Mutex
	endpoints []Endpoint
	history   []EndpointsChange
	notify    chan struct{}
	outcomes  []Outcome
}

// Route starts a router for the Service's port: a port name, a Service
// port number, or zero for any port (intstr.FromString("http"),
// intstr.FromInt32(80)). It returns once the router knows the Service's
// current endpoints; ctx bounds that wait only. The router runs until
// Router.Close or DataPlane.Close.
func (d *DataPlane) Route(ctx context.Context, namespace, service string, port intstr.IntOrString) (*Router, error) {
	if d.opts.Namespace != "" && namespace != d.opts.Namespace {
		return nil, fmt.Errorf("route %s/%s: the data plane watches pods in namespace %s only", namespace, service, d.opts.Namespace)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("route %s/%s: %w", namespace, service, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Router{
		dp: d, namespace: namespace, service: service, port: port,
		url: "http://" + ln.Addr().String(), cancel: cancel, served: make(chan struct{}),
		notify: make(chan struct{}),
		log:    d.log.With("namespace", namespace, "service", service),
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: 30 * time.Second},
		ErrorHandler: proxyError,
		ErrorLog:     slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
	}
	// HTTP/2 clients (prior knowledge) are served too; a router proxies
	// each request on its own, so unlike kube-proxy it does not pin them.
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, Protocols: new(http.Protocols)}
	r.srv.Protocols.SetHTTP1(true)
	r.srv.Protocols.SetUnencryptedHTTP2(true)
	if err := d.addRouter(r); err != nil {
		cancel()
		_ = ln.Close()
		return nil, fmt.Errorf("route %s/%s: %w", namespace, service, err)
	}
	synced := r.watch(runCtx)
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln)
	}()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		r.Close()
		return nil, fmt.Errorf("route %s/%s: watch endpoints: %w", namespace, service, context.Cause(ctx))
	}
	r.refresh()
	return r, nil
}

// watch runs informers on the Service and its EndpointSlices.
func (r *Router) watch(ctx context.Context) []cache.InformerSynced {
	client := r.dp.client
	svc := cache.NewSharedIndexInformer(
		cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "services", r.namespace,
			fields.OneTermEqualSelector("metadata.name", r.service)),
		&corev1.Service{}, 0, cache.Indexers{})
	eps := cache.NewSharedIndexInformer(
		cache.NewFilteredListWatchFromClient(client.DiscoveryV1().RESTClient(), "endpointslices", r.namespace,
			func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName + "=" + r.service }),
		&discoveryv1.EndpointSlice{}, 0, cache.Indexers{})
	r.services, r.slices = svc.GetStore(), eps.GetStore()
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.refresh() },
		UpdateFunc: func(any, any) { r.refresh() },
		DeleteFunc: func(any) { r.refresh() },
	}
	var synced []cache.InformerSynced
	for _, inf := range []cache.SharedIndexInformer{svc, eps} {
		_, _ = inf.AddEventHandler(handler) // fails only once the informer stopped
		r.informers.Go(func() { inf.RunWithContext(ctx) })
		synced = append(synced, inf.HasSynced)
	}
	return synced
}

// refresh recomputes the usable endpoints from the informers' stores.
func (r *Router) refresh() {
	var svc *corev1.Service
	for _, o := range r.services.List() {
		svc = o.(*corev1.Service)
	}
	var eps []*discoveryv1.EndpointSlice
	for _, o := range r.slices.List() {
		eps = append(eps, o.(*discoveryv1.EndpointSlice))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	usable := usableEndpoints(svc, r.port, eps)
	if len(r.history) > 0 && slices.Equal(usable, r.endpoints) {
		return
	}
	r.endpoints = usable
	r.history = append(r.history, EndpointsChange{Time: time.Now(), Endpoints: usable})
	close(r.notify)
	r.notify = make(chan struct{})
	r.log.Debug("endpoints changed", "endpoints", usable)
}

// URL is the router's address, http://127.0.0.1:port.
func (r *Router) URL() string { return r.url }

// Endpoints are the endpoints the router currently sends requests to.
func (r *Router) Endpoints() []Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.endpoints)
}

// History lists every change of the router's endpoints, the first being
// the set it started with.
func (r *Router) History() []EndpointsChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.history)
}

// WaitEndpoints waits until cond holds for the router's endpoints, checking
// it now and after every change.
func (r *Router) WaitEndpoints(ctx context.Context, cond func([]Endpoint) bool) error {
	for {
		r.mu.Lock()
		eps, ch := slices.Clone(r.endpoints), r.notify
		r.mu.Unlock()
		if cond(eps) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Outcomes returns every request's outcome so far, in the order they
// completed.
func (r *Router) Outcomes() []Outcome { return r.OutcomesSince(0) }

// OutcomesSince returns the outcomes after the first n, so that a caller
// can follow them: n = previous n + len(previous result).
func (r *Router) OutcomesSince(n int) []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n >= len(r.outcomes) {
		return nil
	}
	return slices.Clone(r.outcomes[max(n, 0):])
}

// Close stops the router: its listener, then its watches.
func (r *Router) Close() {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			_ = r.srv.Close()
		}
		<-r.served
		r.cancel()
		r.informers.Wait()
		r.dp.removeRouter(r)
	})
}

func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	o := Outcome{Time: time.Now()}
	defer func() {
		o.Duration = time.Since(o.Time)
		if p := recover(); p != nil {
			o.Err = fmt.Sprintf("response aborted: %v", p)
			r.record(o)
			panic(p)
		}
		r.record(o)
	}()
	ep, ok := r.pick()
	if !ok {
		o.Status, o.Err = http.StatusServiceUnavailable, "no usable endpoint"
		http.Error(w, "no usable endpoint for service "+r.namespace+"/"+r.service, o.Status)
		return
	}
	o.Pod, o.Terminating = ep.Pod, !ep.Ready
	b := r.dp.reg.await(req.Context(), r.namespace, ep.Pod, ep.UID, r.dp.opts.BackendWait)
	switch {
	case b == nil:
		o.Status, o.Err = http.StatusBadGateway, "no backend for pod (never ready?)"
	case b.isStopped():
		o.Status, o.Err = http.StatusBadGateway, "connection refused: backend stopped"
	}
	if o.Err != "" {
		http.Error(w, o.Err, o.Status)
		return
	}
	t := &target{url: b.target}
	sw := &statusWriter{ResponseWriter: w}
	r.proxy.ServeHTTP(sw, req.WithContext(context.WithValue(req.Context(), targetKey{}, t)))
	o.Status = sw.status
	if t.err != nil {
		o.Err = t.err.Error()
	}
}

// pick chooses the next usable endpoint, round robin.
func (r *Router) pick() (Endpoint, bool) {
	r.mu.Lock()
	eps := r.endpoints
	r.mu.Unlock()
	if len(eps) == 0 {
		return Endpoint{}, false
	}
	return eps[(r.next.Add(1)-1)%uint64(len(eps))], true
}

func (r *Router) record(o Outcome) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, o)
	r.mu.Unlock()
}

func (d *DataPlane) removeRouter(r *Router) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.routers = slices.DeleteFunc(d.routers, func(x *Router) bool { return x == r })
}

// target carries a request's backend to the proxy and its error back.
type target struct {
	url *url.URL
	err error
}

type targetKey struct{}

func rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(pr.In.Context().Value(targetKey{}).(*target).url)
	pr.SetXForwarded()
}

func proxyError(w http.ResponseWriter, req *http.Request, err error) {
	if t, ok := req.Context().Value(targetKey{}).(*target); ok {
		t.err = err
	}
	if errors.Is(err, context.Canceled) {
		err = fmt.Errorf("client gone: %w", err)
	}
	http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
