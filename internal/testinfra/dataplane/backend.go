package dataplane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Pod annotations that change what a pod's backend answers.
const (
	// AnnotationHTTPStatus is the status code to answer with, e.g. "500".
	AnnotationHTTPStatus = "testbed.cutover.dev/http-status"
	// AnnotationHTTPBody is the body text to answer with.
	AnnotationHTTPBody = "testbed.cutover.dev/http-body"
	// AnnotationHTTPDelay is how long to take before answering, e.g.
	// "300ms": a slow release.
	AnnotationHTTPDelay = "testbed.cutover.dev/http-delay"
)

// Backend describes the HTTP server standing in for one pod.
type Backend struct {
	Namespace string
	Pod       string
	UID       types.UID
	Image     string
	// URL is http://127.0.0.1:port.
	URL     string
	Started time.Time
	// StopAt is when the backend stops serving; zero until the pod is
	// deleted.
	StopAt    time.Time
	Stopped   bool
	StoppedAt time.Time
}

// answer is what a backend replies to every request.
type answer struct {
	status int
	body   string
	delay  time.Duration
}

type backend struct {
	namespace, pod, image string
	uid                   types.UID
	url                   string
	target                *url.URL
	started               time.Time
	srv                   *http.Server
	log                   *slog.Logger
	answer                atomic.Pointer[answer]
	served                chan struct{} // closed when Serve returned
	down                  chan struct{} // closed when stop returned

	mu        sync.Mutex
	podLn     net.Listener // at the pod's address, with Options.PodAddresses
	stopTime  time.Time
	timer     *time.Timer
	stopped   bool
	stoppedAt time.Time
}

func startBackend(pod *corev1.Pod, log *slog.Logger) (*backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	b := &backend{
		namespace: pod.Namespace, pod: pod.Name, uid: pod.UID, image: podImage(pod),
		url: "http://" + ln.Addr().String(), target: &url.URL{Scheme: "http", Host: ln.Addr().String()},
		started: time.Now(), log: log,
		served: make(chan struct{}), down: make(chan struct{}),
	}
	b.answer.Store(answerFor(pod))
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(b.served)
		_ = b.srv.Serve(ln)
	}()
	return b, nil
}

// podAddr is where a pod serves by its EndpointSlices: its IP and first
// container port; "" before it has an IP.
func podAddr(pod *corev1.Pod) string {
	if pod.Status.PodIP == "" {
		return ""
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(containerPort(pod))))
}

// podAddrs are the backends serving at pod addresses, by address, across
// every data plane of the process: kwok hands a deleted pod's IP to the
// next pod at once, in any namespace, while the deleted pod's backend may
// serve on until its deletionTimestamp (for the routers, which find it by
// its pod). The address is the new pod's from then on, as it would be once
// Kubernetes reused it.
var podAddrs = struct {
	sync.Mutex
	by map[string]*backend
}{by: map[string]*backend{}}

// listenAt makes the backend also serve at addr, its pod's address
// (Options.PodAddresses), taken from the backend that holds it.
func (b *backend) listenAt(addr string) error {
	podAddrs.Lock()
	defer podAddrs.Unlock()
	if old := podAddrs.by[addr]; old != nil {
		old.closePodListener()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	podAddrs.by[addr] = b
	b.mu.Lock()
	b.podLn = ln
	b.mu.Unlock()
	go func() { _ = b.srv.Serve(ln) }()
	return nil
}

func (b *backend) closePodListener() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.podLn != nil {
		_ = b.podLn.Close()
		b.podLn = nil
	}
}

// containerPort is the pod's first TCP container port, 80 without one.
func containerPort(pod *corev1.Pod) int32 {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
				return p.ContainerPort
			}
		}
	}
	return 80
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := b.answer.Load()
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Pod", b.pod)
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (b *backend) setAnswer(a *answer) { b.answer.Store(a) }

// stopAt schedules the stop at t, or moves a scheduled stop earlier unless
// ifUnscheduled. It reports whether the schedule changed; after is called
// once stopped.
func (b *backend) stopAt(t time.Time, ifUnscheduled bool, after func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || (!b.stopTime.IsZero() && (ifUnscheduled || !t.Before(b.stopTime))) {
		return false
	}
	b.stopTime = t
	if b.timer != nil {
		b.timer.Stop()
	}
	b.timer = time.AfterFunc(time.Until(t), func() {
		b.stop()
		after()
	})
	return true
}

// stop closes the listener, so that new connections are refused, and waits
// briefly for requests in flight. Every call returns once stopped.
func (b *backend) stop() {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		<-b.down
		return
	}
	defer close(b.down)
	b.stopped = true
	b.stoppedAt = time.Now()
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		_ = b.srv.Close()
	}
	<-b.served
	b.log.Debug("backend stopped", "namespace", b.namespace, "pod", b.pod)
}

func (b *backend) isStopped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}

func (b *backend) info() Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Backend{
		Namespace: b.namespace, Pod: b.pod, UID: b.uid, Image: b.image, URL: b.url,
		Started: b.started, StopAt: b.stopTime, Stopped: b.stopped, StoppedAt: b.stoppedAt,
	}
}

// answerFor is what the pod's app answers, after its annotations.
func answerFor(pod *corev1.Pod) *answer {
	a := &answer{status: http.StatusOK, body: defaultBody(podImage(pod), pod.Name)}
	if s, ok := pod.Annotations[AnnotationHTTPStatus]; ok {
		if code, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && code >= 200 && code <= 599 {
			a.status = code
		}
	}
	if body, ok := pod.Annotations[AnnotationHTTPBody]; ok {
		a.body = body
	}
	if d, err := time.ParseDuration(pod.Annotations[AnnotationHTTPDelay]); err == nil && d > 0 {
		a.delay = d
	}
	return a
}

// defaultBody imitates the image: Tomcat names its major version, any other
// image its name. Both name the pod.
func defaultBody(image, pod string) string {
	ref := parseImage(image)
	if ref.name == "tomcat" {
		return fmt.Sprintf("Apache Tomcat/%s\npod: %s\nimage: %s\n", tomcatVersion(ref.tag), pod, image)
	}
	return fmt.Sprintf("image: %s\npod: %s\n", image, pod)
}

func podImage(pod *corev1.Pod) string {
	if len(pod.Spec.Containers) == 0 {
		return ""
	}
	return pod.Spec.Containers[0].Image
}

type imageRef struct {
	name string // base name of the repository, e.g. tomcat
	tag  string // "" when absent
}

// parseImage splits registry.example:5000/library/tomcat:8.0@sha256:… into
// its repository base name and tag.
func parseImage(image string) imageRef {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	var ref imageRef
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image, ref.tag = image[:i], image[i+1:]
	}
	ref.name = image[strings.LastIndex(image, "/")+1:]
	return ref
}

// tomcatVersion is the major version in a tag such as 8.0 or 8.5-jdk17;
// without leading digits, the tag itself ("latest" when empty).
func tomcatVersion(tag string) string {
	n := 0
	for n < len(tag) && tag[n] >= '0' && tag[n] <= '9' {
		n++
	}
	switch {
	case n > 0:
		return tag[:n]
	case tag == "":
		return "latest"
	}
	return tag
}
