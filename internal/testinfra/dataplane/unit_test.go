package dataplane

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func TestDefaultBody(t *testing.T) {
	cases := []struct {
		image, want, version string
	}{
		{"tomcat:8.0", "Apache Tomcat/8\npod: p\nimage: tomcat:8.0\n", "Tomcat/8"},
		{"tomcat:7", "Apache Tomcat/7\npod: p\nimage: tomcat:7\n", "Tomcat/7"},
		{"docker.io/library/tomcat:10.1-jdk17@sha256:abc", "Apache Tomcat/10\npod: p\nimage: docker.io/library/tomcat:10.1-jdk17@sha256:abc\n", "Tomcat/10"},
		{"registry:5000/tomcat", "Apache Tomcat/latest\npod: p\nimage: registry:5000/tomcat\n", "Tomcat/latest"},
		{"registry:5000/tomcat-like:8", "image: registry:5000/tomcat-like:8\npod: p\n", "registry:5000/tomcat-like:8"},
		{"nginx:1.25", "image: nginx:1.25\npod: p\n", "nginx:1.25"},
	}
	for _, tc := range cases {
		t.Run(tc.image, func(t *testing.T) {
			got := defaultBody(tc.image, "p")
			if got != tc.want {
				t.Errorf("body %q, want %q", got, tc.want)
			}
			if v := Version(got); v != tc.version {
				t.Errorf("Version %q, want %q", v, tc.version)
			}
		})
	}
}

func TestAnswerFor(t *testing.T) {
	cases := []struct {
		name        string
		annotations map[string]string
		status      int
		body        string
		delay       time.Duration
	}{
		{"default", nil, 200, "Apache Tomcat/8\npod: web-1\nimage: tomcat:8.0\n", 0},
		{"status", map[string]string{AnnotationHTTPStatus: "503"}, 503, "Apache Tomcat/8\npod: web-1\nimage: tomcat:8.0\n", 0},
		{"bad status ignored", map[string]string{AnnotationHTTPStatus: "oops"}, 200, "Apache Tomcat/8\npod: web-1\nimage: tomcat:8.0\n", 0},
		{"body", map[string]string{AnnotationHTTPBody: "hi"}, 200, "hi", 0},
		{"delay", map[string]string{AnnotationHTTPDelay: "300ms"}, 200, "Apache Tomcat/8\npod: web-1\nimage: tomcat:8.0\n", 300 * time.Millisecond},
		{"bad delay ignored", map[string]string{AnnotationHTTPDelay: "slow"}, 200, "Apache Tomcat/8\npod: web-1\nimage: tomcat:8.0\n", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := answerFor(testPod("web-1", "u1", tc.annotations, true))
			if a.status != tc.status || a.body != tc.body || a.delay != tc.delay {
				t.Errorf("got %d %q after %s, want %d %q after %s", a.status, a.body, a.delay, tc.status, tc.body, tc.delay)
			}
		})
	}
}

func TestUsableEndpoints(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
		{Name: "http", Port: 80}, {Name: "admin", Port: 9000},
	}}}
	ep := func(pod string, ready, serving, terminating *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{
			Addresses:  []string{"10.0.0.1"},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: pod, UID: types.UID(pod + "-uid")},
			Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving, Terminating: terminating},
		}
	}
	slice := func(port string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Name: ptr.To(port)}}, Endpoints: eps}
	}
	yes, no := ptr.To(true), ptr.To(false)
	cases := []struct {
		name   string
		svc    *corev1.Service
		port   intstr.IntOrString
		slices []*discoveryv1.EndpointSlice
		want   []string
	}{
		{"ready only", svc, intstr.FromInt32(80),
			[]*discoveryv1.EndpointSlice{slice("http", ep("b", yes, yes, no), ep("a", yes, yes, no), ep("c", no, no, no))},
			[]string{"a", "b"}},
		{"nil conditions are ready", svc, intstr.FromString("http"),
			[]*discoveryv1.EndpointSlice{slice("http", ep("a", nil, nil, nil))}, []string{"a"}},
		{"ready wins over terminating", svc, intstr.FromInt32(80),
			[]*discoveryv1.EndpointSlice{slice("http", ep("old", no, yes, yes), ep("new", yes, yes, no))}, []string{"new"}},
		{"fallback to serving terminating", svc, intstr.FromInt32(80),
			[]*discoveryv1.EndpointSlice{slice("http", ep("old", no, yes, yes), ep("gone", no, no, yes), ep("starting", no, no, no))},
			[]string{"old"}},
		{"other port's slice ignored", svc, intstr.FromInt32(80),
			[]*discoveryv1.EndpointSlice{slice("admin", ep("a", yes, yes, no))}, nil},
		{"unknown service port", svc, intstr.FromInt32(8080),
			[]*discoveryv1.EndpointSlice{slice("http", ep("a", yes, yes, no))}, nil},
		{"port number without service", nil, intstr.FromInt32(80),
			[]*discoveryv1.EndpointSlice{slice("http", ep("a", yes, yes, no))}, nil},
		{"any port, deduplicated", nil, intstr.IntOrString{},
			[]*discoveryv1.EndpointSlice{slice("http", ep("a", yes, yes, no)), slice("admin", ep("a", yes, yes, no))},
			[]string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range usableEndpoints(tc.svc, tc.port, tc.slices) {
				got = append(got, e.Pod)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBackendLifecycle drives the pod handlers with pod objects as the watch
// would deliver them.
func TestBackendLifecycle(t *testing.T) {
	d := &DataPlane{opts: Options{MaxGrace: 300 * time.Millisecond}, log: slog.New(slog.DiscardHandler), reg: newRegistry()}
	defer d.reg.stopAll()

	d.onPod(testPod("starting", "u0", nil, false))
	if b := d.Backends(); len(b) != 0 {
		t.Fatalf("a pod not Ready got a backend: %+v", b)
	}

	ready := testPod("web-1", "u1", nil, true)
	d.onPod(ready)
	d.onPod(testPod("web-1", "u1", nil, false)) // unready again: keeps serving
	b := d.Backends()
	if len(b) != 1 || b[0].Pod != "web-1" || b[0].Stopped {
		t.Fatalf("backends %+v, want web-1 running", b)
	}
	if got := httpGet(t, b[0].URL); got != http.StatusOK {
		t.Fatalf("backend answered %d", got)
	}

	// The watch missed the deletionTimestamp: the pod's 30s grace is capped
	// by MaxGrace.
	deleted := time.Now()
	d.onPodDeleted(cache.DeletedFinalStateUnknown{Key: "ns/web-1", Obj: ready})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.WaitBackends(ctx, func(b []Backend) bool { return b[0].Stopped }); err != nil {
		t.Fatal(err)
	}
	b = d.Backends()
	if took := b[0].StoppedAt.Sub(deleted); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("backend stopped %s after the pod vanished, want MaxGrace 300ms", took)
	}
	if err := httpErr(b[0].URL); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("stopped backend: got %v, want connection refused", err)
	}
}

// TestDeletionTimestampOnlyMovesEarlier checks that a later deletion with a
// shorter grace period moves the stop earlier, never later, and that the
// final grace-0 removal (kwok's, the kubelet's) does not move it.
func TestDeletionTimestampOnlyMovesEarlier(t *testing.T) {
	d := &DataPlane{log: slog.New(slog.DiscardHandler), reg: newRegistry()}
	defer d.reg.stopAll()
	pod := testPod("web-1", "u1", nil, true)
	d.onPod(pod)
	now := time.Now()
	late, early := now.Add(time.Hour), now.Add(time.Minute)
	for _, del := range []struct {
		at    time.Time
		grace int64
	}{{late, 3600}, {early, 60}, {late, 3600}, {now, 0}} {
		p := pod.DeepCopy()
		p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &metav1.Time{Time: del.at}, ptr.To(del.grace)
		d.onPod(p)
	}
	if got := d.Backends()[0].StopAt; !got.Equal(early) {
		t.Errorf("stop at %s, want the earliest non-zero-grace deletionTimestamp %s", got, early)
	}
	final := pod.DeepCopy()
	final.DeletionTimestamp, final.DeletionGracePeriodSeconds = &metav1.Time{Time: now}, ptr.To[int64](0)
	d.onPodDeleted(final)
	if got := d.Backends()[0]; !got.StopAt.Equal(early) || got.Stopped {
		t.Errorf("after the pod object went: %+v, want still serving until %s", got, early)
	}
}

// TestRemovalSeenFirst checks a backend whose pod the watch first shows
// being removed (grace 0, the deletionTimestamp moved back to when deletion
// began): it serves for the pod's grace period from that time, as it would
// have had the graceful deletion been seen, and not a moment less.
func TestRemovalSeenFirst(t *testing.T) {
	began := time.Now().Add(-time.Second)
	cases := []struct {
		name     string
		deleted  bool // the DELETED event rather than the grace-0 update
		maxGrace time.Duration
		want     time.Time
	}{
		{"grace-0 update", false, 0, began.Add(30 * time.Second)},
		{"deleted event", true, 0, began.Add(30 * time.Second)},
		{"capped by MaxGrace", true, 10 * time.Second, began.Add(10 * time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &DataPlane{opts: Options{MaxGrace: tc.maxGrace}, log: slog.New(slog.DiscardHandler), reg: newRegistry()}
			defer d.reg.stopAll()
			pod := testPod("web-1", "u1", nil, true)
			d.onPod(pod)
			gone := pod.DeepCopy()
			gone.DeletionTimestamp, gone.DeletionGracePeriodSeconds = &metav1.Time{Time: began}, ptr.To[int64](0)
			if tc.deleted {
				d.onPodDeleted(gone)
			} else {
				d.onPod(gone)
			}
			got := d.Backends()[0]
			if got.Stopped || !got.StopAt.Equal(tc.want) {
				t.Errorf("backend %+v, want serving until %s", got, tc.want)
			}
		})
	}
}

func testPod(name, uid string, annotations map[string]string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid), Annotations: annotations},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "app", Image: "tomcat:8.0"}},
			TerminationGracePeriodSeconds: ptr.To[int64](30),
		},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func httpGet(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func httpErr(url string) error {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestParseGatewayPath(t *testing.T) {
	cases := []struct {
		in, ns, svc, port, rest string
		ok                      bool
	}{
		{"/default/tomcat-test-blue/", "default", "tomcat-test-blue", "0", "/", true},
		{"/prod/web:80/health?x", "prod", "web", "80", "/health?x", true},
		{"/prod/web:http", "prod", "web", "http", "/", true},
		{"/prod", "", "", "0", "", false},
		{"//web/", "", "", "0", "", false},
	}
	for _, c := range cases {
		ns, svc, port, rest, ok := parseGatewayPath(c.in)
		if ok != c.ok || ns != c.ns || svc != c.svc || (ok && port.String() != c.port) || rest != c.rest {
			t.Errorf("parseGatewayPath(%q) = %q %q %q %q %v", c.in, ns, svc, port.String(), rest, ok)
		}
	}
}

// TestLoadConnections checks how each kind of users' traffic uses
// connections: HTTP/2 multiplexes every request on one, keep-alive reuses
// a few, and the default opens one per request.
func TestLoadConnections(t *testing.T) {
	cases := []struct {
		name       string
		opts       LoadOptions
		proto      string
		perRequest bool // one connection per request
	}{
		{"new connections", LoadOptions{}, "HTTP/1.1", true},
		{"keep-alive", LoadOptions{KeepAlive: true}, "HTTP/1.1", false},
		{"HTTP/2", LoadOptions{HTTP2: true}, "HTTP/2.0", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			protos, conns := map[string]int{}, map[string]bool{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				protos[r.Proto]++
				conns[r.RemoteAddr] = true
				mu.Unlock()
				_, _ = io.WriteString(w, "Apache Tomcat/8 web-1\n")
			}))
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Start()
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			opts := tc.opts
			opts.URL, opts.Rate = srv.URL, 40
			res := Load(ctx, opts)
			mu.Lock()
			defer mu.Unlock()
			if res.Failures != 0 || res.Total < 5 || protos[tc.proto] != res.Total {
				t.Fatalf("%s; protocols %v, want all %s", res, protos, tc.proto)
			}
			if got := len(conns) == res.Total; got != tc.perRequest {
				t.Errorf("%d connections for %d requests", len(conns), res.Total)
			}
			if tc.opts.HTTP2 && len(conns) != 1 {
				t.Errorf("HTTP/2 used %d connections, want 1", len(conns))
			}
		})
	}
}
