package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
)

// maxStatusBody bounds how much of a rejected response is read for an API
// server Status message.
const maxStatusBody = 16 << 10

// maxMessage bounds the Status message kept in a Detail.
const maxMessage = 200

// NewServiceProxyHTTP returns a check that reaches a Service through the API
// server's proxy, /api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH, with
// cfg's credentials and TLS settings, so that no LoadBalancer, Ingress or
// port-forward is needed. port is a port name or number, or empty for a
// Service with one unnamed port; path may carry a query. Its name is
// "service NS/NAME:PORT/PATH". When the API server itself refuses (no
// endpoints, pod unreachable), the Detail carries its message.
func NewServiceProxyHTTP(cfg *rest.Config, namespace, service, port, path string) (*HTTP, error) {
	if cfg == nil {
		return nil, errors.New("service proxy: no api server config")
	}
	if err := validateServiceRef(namespace, service, port); err != nil {
		return nil, err
	}
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("service proxy: api server url: %w", err)
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("service proxy: client: %w", err)
	}
	target := service
	if port != "" {
		target += ":" + port
	}
	ref, err := url.Parse("/" + strings.TrimPrefix(path, "/"))
	if err != nil {
		return nil, fmt.Errorf("service proxy: path: %w", errors.Unwrap(err))
	}
	h := &HTTP{Client: client, apiStatus: true}
	h.URL = strings.TrimSuffix(base.String(), "/") + proxyPath(namespace, target, ref)
	h.Label = "service " + namespace + "/" + target + ref.EscapedPath()
	if ref.RawQuery != "" {
		h.Label += "?" + redactQuery(ref.RawQuery)
	}
	return h, nil
}

// proxyPath is the API server's path to a Service's proxy, with ref's path
// and query.
func proxyPath(namespace, target string, ref *url.URL) string {
	p := "/api/v1/namespaces/" + namespace + "/services/" + target + "/proxy" + ref.EscapedPath()
	if ref.RawQuery != "" {
		p += "?" + ref.RawQuery
	}
	return p
}

func validateServiceRef(namespace, service, port string) error {
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return fmt.Errorf("service proxy: namespace %q: %s", namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1035Label(service); len(errs) > 0 {
		return fmt.Errorf("service proxy: service %q: %s", service, strings.Join(errs, "; "))
	}
	if port == "" {
		return nil
	}
	errs := validation.IsValidPortName(port)
	if n, err := strconv.Atoi(port); err == nil {
		errs = validation.IsValidPortNum(n)
	}
	if len(errs) > 0 {
		return fmt.Errorf("service proxy: port %q: %s", port, strings.Join(errs, "; "))
	}
	return nil
}

// rejected describes a response whose status was not accepted, with the API
// server's message when the proxy itself answered.
func (h *HTTP) rejected(resp *http.Response) string {
	status := statusLine(resp.StatusCode)
	if !h.apiStatus {
		return status
	}
	if msg := apiStatusMessage(resp.Body); msg != "" {
		return status + ": " + msg
	}
	return status
}

// apiStatusMessage returns the message of a metav1.Status body, or "".
func apiStatusMessage(body io.Reader) string {
	var st struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(body, maxStatusBody)).Decode(&st); err != nil || st.Kind != "Status" {
		return ""
	}
	return oneLine(st.Message, maxMessage)
}

// oneLine turns s into one printable line of at most max runes.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
