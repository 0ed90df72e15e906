package verify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// DefaultMaxBody is how much of a body HTTP reads when MaxBody is zero.
const DefaultMaxBody = 1 << 20

// userAgent lets an application tell verification traffic from its users'.
const userAgent = "cutover-verify"

// HTTP checks a URL: the status code and, optionally, the body. It is safe
// for concurrent use as long as its fields are not changed.
type HTTP struct {
	URL     string
	Method  string            // default GET
	Headers map[string]string // "Host" sets the request's host
	Status  []int             // accepted codes; default any 2xx
	// Contains and Matches, when set, must both hold for the first MaxBody
	// bytes of the body.
	Contains string
	Matches  *regexp.Regexp
	MaxBody  int64 // default DefaultMaxBody
	// InsecureSkipVerify turns off TLS verification of the default client;
	// it has no effect when Client is set.
	InsecureSkipVerify bool
	// Client overrides the default client, which follows redirects as
	// net/http does and opens a new connection for every attempt, so that
	// each attempt sees the routing of its moment (after a selector switch,
	// a kept-alive connection would still reach the old pods).
	Client *http.Client
	// Label overrides Name; it must not hold credentials.
	Label string

	apiStatus bool // rejected responses may be API server Status objects
}

var (
	secureClient   = sync.OnceValue(func() *http.Client { return newClient(false) })
	insecureClient = sync.OnceValue(func() *http.Client { return newClient(true) })
)

func newClient(insecure bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: insecure} //nolint:gosec // opt-in
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr}
}

// Name describes the check without credentials: "http GET https://host/path",
// without the URL's userinfo and with query values masked.
func (h *HTTP) Name() string {
	if h.Label != "" {
		return h.Label
	}
	return "http " + h.method() + " " + redactURL(h.URL)
}

// Probe makes one request and judges the response.
func (h *HTTP) Probe(ctx context.Context) Result {
	req, err := h.request(ctx)
	if err != nil {
		return Result{Detail: errDetail(err)}
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return Result{Detail: errDetail(err)}
	}
	defer resp.Body.Close()
	if !h.statusOK(resp.StatusCode) {
		return Result{Detail: h.rejected(resp)}
	}
	if h.Contains == "" && h.Matches == nil {
		return Result{OK: true, Detail: statusLine(resp.StatusCode)}
	}
	return h.checkBody(resp)
}

func (h *HTTP) request(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, h.method(), h.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range h.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}

func (h *HTTP) method() string {
	if h.Method == "" {
		return http.MethodGet
	}
	return h.Method
}

func (h *HTTP) client() *http.Client {
	switch {
	case h.Client != nil:
		return h.Client
	case h.InsecureSkipVerify:
		return insecureClient()
	default:
		return secureClient()
	}
}

func (h *HTTP) statusOK(code int) bool {
	if len(h.Status) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(h.Status, code)
}

func (h *HTTP) checkBody(resp *http.Response) Result {
	status := statusLine(resp.StatusCode)
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBody()))
	if err != nil {
		return Result{Detail: fmt.Sprintf("%s, reading body: %s", status, errDetail(err))}
	}
	if h.Contains != "" && !strings.Contains(string(body), h.Contains) {
		return Result{Detail: fmt.Sprintf("%s, body does not contain %q", status, h.Contains)}
	}
	if h.Matches != nil && !h.Matches.Match(body) {
		return Result{Detail: fmt.Sprintf("%s, body does not match /%s/", status, h.Matches)}
	}
	return Result{OK: true, Detail: status + ", body matched"}
}

func (h *HTTP) maxBody() int64 {
	if h.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return h.MaxBody
}

// statusLine is built from the code rather than taken from the server, so
// that the log line stays short and free of whatever the server sent.
func statusLine(code int) string {
	return strings.TrimSpace(fmt.Sprintf("%d %s", code, http.StatusText(code)))
}

// errDetail shortens a client error: the URL, which may hold credentials, is
// in the check's name already.
func errDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// redactURL drops a URL's userinfo and fragment and masks its query values.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// redactQuery keeps the keys of a query, in order, and masks the values.
func redactQuery(q string) string {
	if q == "" {
		return ""
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok {
			parts[i] = k + "=xxxxx"
		}
	}
	return strings.Join(parts, "&")
}
