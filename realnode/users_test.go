package realnode

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/testinfra/audit"
	"github.com/cutover/cutover/internal/testinfra/dataplane"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// Kinds of users' traffic.
const (
	fresh = "new connections" // 100/s, each request on a new connection
	kept  = "keep-alive"      // 50/s over kept-alive HTTP/1.1 connections
	slow  = "slow requests"   // 10/s to /slow?d=8s, each taking 8 s
	h2    = "HTTP/2"          // 50/s over one HTTP/2 connection, as gRPC clients do
	// 50/s, each on a new connection to the node's IP and the Service's
	// NodePort, as an external load balancer sends them
	viaNodePort = "new connections via NodePort"
)

// userOptions say where the users send their traffic.
type userOptions struct {
	URL string
	// Dial opens the connections; nil: from this host.
	Dial func(context.Context, string, string) (net.Conn, error)
	// Record, if set, gets every request's outcome; ByKind gets it with
	// the kind of users that sent it.
	Record func(dataplane.Outcome)
	ByKind func(kind string, x dataplane.Outcome)
	// HTTP2 adds the HTTP/2 users.
	HTTP2 bool
	// NodePortURL, if set, adds users through the Service's NodePort.
	NodePortURL string
}

// users is the users' traffic to one URL, by kind.
type users struct {
	stop    context.CancelFunc
	kinds   []string
	results map[string]chan *dataplane.LoadResult
}

// startUsers starts the users' traffic.
func startUsers(ctx context.Context, o userOptions) *users {
	ctx, stop := context.WithCancel(ctx)
	u := &users{stop: stop, results: map[string]chan *dataplane.LoadResult{}}
	start := func(kind string, lo dataplane.LoadOptions) {
		lo.Dial, lo.Record = o.Dial, o.Record
		if o.ByKind != nil {
			lo.Record = func(x dataplane.Outcome) { o.ByKind(kind, x) }
		}
		ch := make(chan *dataplane.LoadResult, 1)
		u.kinds, u.results[kind] = append(u.kinds, kind), ch
		go func() { ch <- dataplane.Load(ctx, lo) }()
	}
	start(fresh, dataplane.LoadOptions{URL: o.URL, Rate: 100})
	start(kept, dataplane.LoadOptions{URL: o.URL, Rate: 50, KeepAlive: true})
	start(slow, dataplane.LoadOptions{URL: o.URL + "slow?d=8s", Rate: 10})
	if o.HTTP2 {
		start(h2, dataplane.LoadOptions{URL: o.URL, Rate: 50, HTTP2: true})
	}
	if o.NodePortURL != "" {
		start(viaNodePort, dataplane.LoadOptions{URL: o.NodePortURL, Rate: 50})
	}
	return u
}

// done stops the traffic and returns what it got.
func (u *users) done() loads {
	u.stop()
	l := loads{by: map[string]*dataplane.LoadResult{}}
	for _, k := range u.kinds {
		l.kinds, l.by[k] = append(l.kinds, k), <-u.results[k]
	}
	return l
}

// loads are the users' traffic during one release, by kind, and what the
// invariant auditor made of it.
type loads struct {
	kinds      []string
	by         map[string]*dataplane.LoadResult
	violations []audit.Violation
}

// failed counts the failed requests of every kind.
func (l loads) failed() int {
	n := 0
	for _, r := range l.by {
		n += r.Failures
	}
	return n
}

// failures describes the first failures of each kind that had any.
func (l loads) failures() string {
	var out []string
	for _, k := range l.kinds {
		if r := l.by[k]; r.Failures > 0 {
			out = append(out, fmt.Sprintf("%s: %q", k, r.FailureDetails))
		}
	}
	return fmt.Sprint(out)
}

// log writes one line per kind.
func (l loads) log(t *testing.T, prefix string) {
	t.Helper()
	for _, k := range l.kinds {
		t.Logf("%s%s: %s", prefix, k, l.by[k])
	}
}

// clusterURL is the URL of Service web's ClusterIP, port 80, once the users'
// host gets answers through it.
func clusterURL(ctx context.Context, t *testing.T, ns string) string {
	t.Helper()
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"
	waitServing(ctx, t, url, cluster.DialUser)
	return url
}

// nodePortURL is the URL of Service web's NodePort on the real node's IP,
// once the users' host gets answers through it.
func nodePortURL(ctx context.Context, t *testing.T, ns string) string {
	t.Helper()
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("Service web has no NodePort: %+v", svc.Spec.Ports)
	}
	url := "http://" + net.JoinHostPort(testbed.RealNodeIP, strconv.Itoa(int(svc.Spec.Ports[0].NodePort))) + "/"
	waitServing(ctx, t, url, cluster.DialUser)
	return url
}
