package verify

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// fakeAPIServer is a loopback TLS server playing the API server's Service
// proxy: it records each request's path, query and Authorization header.
type fakeAPIServer struct {
	*httptest.Server
	seen []string
}

func newFakeAPIServer(t *testing.T, handler http.HandlerFunc) *fakeAPIServer {
	t.Helper()
	f := &fakeAPIServer{}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.seen = append(f.seen, r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		handler(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// config trusts the server's certificate, as a kubeconfig's CA data would.
func (f *fakeAPIServer) config(host string) *rest.Config {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})
	return &rest.Config{Host: host, BearerToken: "s3cret-token", TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
}

func TestServiceProxyHTTP(t *testing.T) {
	cases := []struct {
		name, port, path string
		hostPrefix       string // a front proxy's path prefix in the config's host
		noScheme         bool   // host given as host:port
		wantURI, wantNm  string
	}{
		{name: "port and path", port: "80", path: "/index.html",
			wantURI: "/api/v1/namespaces/prod/services/tomcat-test:80/proxy/index.html", wantNm: "service prod/tomcat-test:80/index.html"},
		{name: "named port, root", port: "http", path: "",
			wantURI: "/api/v1/namespaces/prod/services/tomcat-test:http/proxy/", wantNm: "service prod/tomcat-test:http/"},
		{name: "no port, query", path: "health?token=abc",
			wantURI: "/api/v1/namespaces/prod/services/tomcat-test/proxy/health?token=abc", wantNm: "service prod/tomcat-test/health?token=xxxxx"},
		{name: "host without scheme", port: "80", path: "/", noScheme: true,
			wantURI: "/api/v1/namespaces/prod/services/tomcat-test:80/proxy/", wantNm: "service prod/tomcat-test:80/"},
		{name: "host with path prefix", port: "80", path: "/", hostPrefix: "/k8s/clusters/c1",
			wantURI: "/k8s/clusters/c1/api/v1/namespaces/prod/services/tomcat-test:80/proxy/", wantNm: "service prod/tomcat-test:80/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "Apache Tomcat/8") })
			host := api.URL + tc.hostPrefix
			if tc.noScheme {
				host = api.Listener.Addr().String()
			}
			h, err := NewServiceProxyHTTP(api.config(host), "prod", "tomcat-test", tc.port, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			h.Contains = "Tomcat/8"
			if r := h.Probe(t.Context()); !r.OK {
				t.Fatalf("probe failed: %s", r.Detail)
			}
			if want := tc.wantURI + " Bearer s3cret-token"; len(api.seen) != 1 || api.seen[0] != want {
				t.Errorf("api server saw %q, want %q", api.seen, want)
			}
			if h.Name() != tc.wantNm {
				t.Errorf("name %q, want %q", h.Name(), tc.wantNm)
			}
		})
	}
}

func TestServiceProxyHTTPShowsAPIServerMessage(t *testing.T) {
	api := newFakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"tomcat-test\"\n","reason":"ServiceUnavailable","code":503}`)
	})
	h, err := NewServiceProxyHTTP(api.config(api.URL), "prod", "tomcat-test", "80", "/")
	if err != nil {
		t.Fatal(err)
	}
	r := h.Probe(t.Context())
	if want := `503 Service Unavailable: no endpoints available for service "tomcat-test"`; r.OK || r.Detail != want {
		t.Errorf("got ok=%v %q, want %q", r.OK, r.Detail, want)
	}
}

func TestServiceProxyHTTPIgnoresAppBodies(t *testing.T) {
	api := newFakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "<html>stack trace\nline 2</html>")
	})
	h, err := NewServiceProxyHTTP(api.config(api.URL), "prod", "tomcat-test", "80", "/")
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Probe(t.Context()); r.Detail != "500 Internal Server Error" {
		t.Errorf("detail %q, want the bare status", r.Detail)
	}
}

func TestNewServiceProxyHTTPRejects(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	cases := []struct {
		name                   string
		cfg                    *rest.Config
		namespace, svc, port   string
		path, wantErrSubstring string
	}{
		{name: "no config", namespace: "prod", svc: "web", wantErrSubstring: "no api server config"},
		{name: "empty namespace", cfg: cfg, svc: "web", wantErrSubstring: "namespace"},
		{name: "slash in namespace", cfg: cfg, namespace: "prod/../kube-system", svc: "web", wantErrSubstring: "namespace"},
		{name: "bad service", cfg: cfg, namespace: "prod", svc: "Web_1", wantErrSubstring: "service"},
		{name: "port out of range", cfg: cfg, namespace: "prod", svc: "web", port: "70000", wantErrSubstring: "port"},
		{name: "bad port name", cfg: cfg, namespace: "prod", svc: "web", port: "a/b", wantErrSubstring: "port"},
		{name: "bad path", cfg: cfg, namespace: "prod", svc: "web", path: "%zz", wantErrSubstring: "path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServiceProxyHTTP(tc.cfg, tc.namespace, tc.svc, tc.port, tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstring) {
				t.Errorf("err = %v, want one about %s", err, tc.wantErrSubstring)
			}
		})
	}
}
