package realnode

import (
	"context"
	"net"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/dataplane"
)

// users is the users' traffic to one URL: 100 requests per second, each on a
// new connection, 50 per second over kept-alive connections and 10 per
// second to /slow?d=8s, requests that take 8 s to answer.
type users struct {
	stop              context.CancelFunc
	fresh, kept, slow chan *dataplane.LoadResult
}

// startUsers starts the users' traffic to url, dialled with dial (nil:
// from this host), each outcome given to record if set.
func startUsers(ctx context.Context, url string, dial func(context.Context, string, string) (net.Conn, error), record func(dataplane.Outcome)) *users {
	ctx, stop := context.WithCancel(ctx)
	u := &users{stop: stop, fresh: make(chan *dataplane.LoadResult, 1), kept: make(chan *dataplane.LoadResult, 1),
		slow: make(chan *dataplane.LoadResult, 1)}
	go func() {
		u.fresh <- dataplane.Load(ctx, dataplane.LoadOptions{URL: url, Rate: 100, Dial: dial, Record: record})
	}()
	go func() {
		u.kept <- dataplane.Load(ctx, dataplane.LoadOptions{URL: url, Rate: 50, Dial: dial, KeepAlive: true, Record: record})
	}()
	go func() {
		u.slow <- dataplane.Load(ctx, dataplane.LoadOptions{URL: url + "slow?d=8s", Rate: 10, Dial: dial, Record: record})
	}()
	return u
}

// done stops the traffic and returns what it got.
func (u *users) done() loads {
	u.stop()
	return loads{fresh: <-u.fresh, kept: <-u.kept, slow: <-u.slow}
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
