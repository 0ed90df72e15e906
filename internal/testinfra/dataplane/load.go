package dataplane

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// maxFailureDetails is how many failures a LoadResult describes.
const maxFailureDetails = 10

// LoadResult counts what a Load run got back.
type LoadResult struct {
	Started, Ended time.Time
	// Total is the number of requests sent; Failures those that got no
	// answer or a status other than 2xx.
	Total, Failures int
	// Skipped counts ticks with no request sent because too many were in
	// flight.
	Skipped int
	// Versions counts successful answers by Version of their body, e.g.
	// "Tomcat/7".
	Versions map[string]int
	// FirstSent and LastSent are, per version, when the first and the last
	// request answered by that version were sent.
	FirstSent, LastSent map[string]time.Time
	// FailureDetails describe the first failures.
	FailureDetails []string
}

// String summarises the result on one line.
func (r *LoadResult) String() string {
	return fmt.Sprintf("%d requests in %s, %d failed, %d skipped, versions %v",
		r.Total, r.Ended.Sub(r.Started).Round(time.Millisecond), r.Failures, r.Skipped, r.Versions)
}

// LoadOptions configure a Load run.
type LoadOptions struct {
	URL  string
	Rate int // requests per second, at least 1
	// KeepAlive reuses connections, as browsers and most HTTP clients do:
	// a connection opened before a switch or a rollout then stays on the
	// pod it reached. Without it each request opens a new connection and
	// sees the current routing.
	KeepAlive bool
	// HTTP2 sends the requests as HTTP/2 over cleartext with prior
	// knowledge, as gRPC clients do: they share one connection, which
	// stays on the pod it reached until that pod's server sends GOAWAY or
	// the connection breaks. It implies KeepAlive.
	HTTP2 bool
	// Dial, if set, opens the connections (e.g. from another network
	// namespace).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Record, if set, gets every request's outcome, the pod named by the
	// second word of the body ("Apache Tomcat/8 POD"); calls are
	// serialized.
	Record func(Outcome)
}

// Load sends GET requests to opts.URL at opts.Rate per second until ctx
// ends, then waits for the requests in flight and returns the counts. At
// most Rate requests (at least 16) are in flight; ticks beyond that are
// skipped and counted.
func Load(ctx context.Context, opts LoadOptions) *LoadResult {
	rate, url := max(opts.Rate, 1), opts.URL
	client := &http.Client{Transport: loadTransport(opts), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	res := &LoadResult{
		Started: time.Now(), Versions: map[string]int{},
		FirstSent: map[string]time.Time{}, LastSent: map[string]time.Time{},
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, max(rate, 16))
	reqCtx := context.WithoutCancel(ctx)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			res.Ended = time.Now()
			return res
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			mu.Lock()
			res.Skipped++
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			sent := time.Now()
			r, err := get(reqCtx, client, url)
			mu.Lock()
			defer mu.Unlock()
			res.add(sent, r.status, r.body, err)
			if opts.Record != nil {
				opts.Record(outcomeOf(sent, r, err))
			}
		})
	}
}

func loadTransport(opts LoadOptions) *http.Transport {
	t := &http.Transport{DisableKeepAlives: !opts.KeepAlive && !opts.HTTP2, DialContext: opts.Dial, MaxIdleConnsPerHost: 4}
	if opts.HTTP2 {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return t
}

// reply is what a request got: its status, body and the X-Pod header a
// backend sets (a router's own answers have none).
type reply struct {
	status    int
	body, pod string
}

func get(ctx context.Context, client *http.Client, url string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return reply{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	r := reply{status: resp.StatusCode, body: string(body), pod: resp.Header.Get("X-Pod")}
	if err != nil {
		return r, fmt.Errorf("read body: %w", err)
	}
	return r, nil
}

func (r *LoadResult) add(sent time.Time, status int, body string, err error) {
	r.Total++
	if err != nil || status < 200 || status > 299 {
		r.Failures++
		if len(r.FailureDetails) < maxFailureDetails {
			r.FailureDetails = append(r.FailureDetails, failureDetail(sent, status, body, err))
		}
		return
	}
	v := Version(body)
	r.Versions[v]++
	if first, ok := r.FirstSent[v]; !ok || sent.Before(first) {
		r.FirstSent[v] = sent
	}
	if sent.After(r.LastSent[v]) {
		r.LastSent[v] = sent
	}
}

func failureDetail(sent time.Time, status int, body string, err error) string {
	if err != nil {
		return fmt.Sprintf("%s: %v", sent.Format("15:04:05.000"), err)
	}
	return fmt.Sprintf("%s: status %d: %s", sent.Format("15:04:05.000"), status, firstLine(body))
}

var tomcatRE = regexp.MustCompile(`Apache Tomcat/(\w+)`)

// Version names the app version that wrote a body: "Tomcat/<major>" for a
// Tomcat backend, the image for another backend's default body, else the
// body's first line.
func Version(body string) string {
	if m := tomcatRE.FindStringSubmatch(body); m != nil {
		return "Tomcat/" + m[1]
	}
	for line := range strings.Lines(body) {
		if image, ok := strings.CutPrefix(strings.TrimSpace(line), "image: "); ok {
			return image
		}
	}
	return firstLine(body)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// outcomeOf is a client's view of one request as an Outcome: the pod is
// the backend's (its X-Pod header, or the real node's app's first line,
// "Apache Tomcat/8 POD"), and a status the pod answered itself is its
// answer, not a router error, as the data plane's router records it.
func outcomeOf(sent time.Time, r reply, err error) Outcome {
	o := Outcome{Time: sent, Duration: time.Since(sent), Status: r.status, Pod: r.pod}
	if f := strings.Fields(firstLine(r.body)); o.Pod == "" && len(f) >= 3 && strings.HasPrefix(f[1], "Tomcat/") {
		o.Pod = f[2]
	}
	switch {
	case err != nil:
		o.Err = err.Error()
	case (r.status < 200 || r.status > 299) && r.pod == "":
		o.Err = fmt.Sprintf("status %d", r.status)
	}
	return o
}
