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

	"k8s.io/client-go/rest"
)

// HTTP checks a URL: the status code and, optionally, the body.
type HTTP struct {
	URL                string
	Method             string // default GET
	Headers            map[string]string
	Status             []int // accepted codes; default any 2xx
	Contains           string
	Matches            *regexp.Regexp
	InsecureSkipVerify bool
	MaxBody            int64 // bytes of body read; default 1 MiB
	// Client overrides the HTTP client (the Service proxy uses the API
	// server's transport).
	Client *http.Client
	// Label overrides Name.
	Label string
}

// Name describes the check without credentials.
func (h *HTTP) Name() string {
	if h.Label != "" {
		return h.Label
	}
	return "http " + h.method() + " " + redactURL(h.URL)
}

func (h *HTTP) method() string {
	if h.Method == "" {
		return http.MethodGet
	}
	return h.Method
}

// Probe makes one request.
func (h *HTTP) Probe(ctx context.Context) Result {
	req, err := http.NewRequestWithContext(ctx, h.method(), h.URL, nil)
	if err != nil {
		return Result{Detail: err.Error()}
	}
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return Result{Detail: netDetail(err)}
	}
	defer resp.Body.Close()
	if !h.statusOK(resp.StatusCode) {
		return Result{Detail: resp.Status}
	}
	if h.Contains == "" && h.Matches == nil {
		return Result{OK: true, Detail: resp.Status}
	}
	return h.checkBody(resp)
}

func (h *HTTP) checkBody(resp *http.Response) Result {
	max := h.MaxBody
	if max <= 0 {
		max = 1 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if err != nil {
		return Result{Detail: fmt.Sprintf("%s, reading body: %v", resp.Status, netDetail(err))}
	}
	if h.Contains != "" && !strings.Contains(string(body), h.Contains) {
		return Result{Detail: fmt.Sprintf("%s, body does not contain %q", resp.Status, h.Contains)}
	}
	if h.Matches != nil && !h.Matches.Match(body) {
		return Result{Detail: fmt.Sprintf("%s, body does not match /%s/", resp.Status, h.Matches)}
	}
	return Result{OK: true, Detail: resp.Status + ", body matched"}
}

func (h *HTTP) statusOK(code int) bool {
	if len(h.Status) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(h.Status, code)
}

func (h *HTTP) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: h.InsecureSkipVerify} //nolint:gosec // opt-in by flag
	tr.DisableKeepAlives = true                                                // each attempt sees the routing of its moment
	h.Client = &http.Client{Transport: tr}
	return h.Client
}

// netDetail shortens a client error: the URL is in the check's name already.
func netDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// redactURL drops userinfo and query values from a URL shown to people.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "***")
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// NewServiceProxyHTTP checks a Service through the API server's Service
// proxy, so that no LoadBalancer or port-forward is needed:
// /api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH.
func NewServiceProxyHTTP(cfg *rest.Config, namespace, service, port, path string) (*HTTP, error) {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("service proxy client: %w", err)
	}
	host := strings.TrimSuffix(cfg.Host, "/")
	if !strings.HasPrefix(host, "http") {
		host = "https://" + host
	}
	path = strings.TrimPrefix(path, "/")
	u := fmt.Sprintf("%s/api/v1/namespaces/%s/services/%s:%s/proxy/%s",
		host, url.PathEscape(namespace), url.PathEscape(service), url.PathEscape(port), path)
	return &HTTP{URL: u, Client: client, Label: fmt.Sprintf("service %s/%s:%s/%s", namespace, service, port, path)}, nil
}
