package dashboard

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestProductionNow: a blue/green app's page shows what its production
// Service routes to now: its selector, its EndpointSlices' ready
// endpoints, and the app's pods by color, each endpoint marked; read from
// the cluster when the page is.
func TestProductionNow(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	clients := clientsFor(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := deployBlueGreen(ctx, clients, "7", nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	srv := newDashboard(t, clients, "alice")
	endpoints := readyEndpoints(t, ns)
	_, page := get(t, srv.URL+appPath(ns, app))
	want := []string{`<section id="production">`, "<code>role=blue</code>",
		fmt.Sprintf("its EndpointSlices list %d ready endpoints.", len(endpoints)), "<h3>blue</h3>"}
	for _, pod := range endpoints {
		want = append(want, fmt.Sprintf("<code>%s</code> ready, an endpoint", pod))
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("the app's page lacks %q", w)
		}
	}
	if strings.Contains(page, "<h3>green</h3>") {
		t.Error("the page shows green pods; none run")
	}
}
