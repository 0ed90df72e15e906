package dashboard

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cutover/cutover/internal/kube"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Options configure a Server.
type Options struct {
	// Clients reach the cluster: in local mode as the person running
	// it, in serve mode as the dashboard itself, which then acts for each
	// person (see ServeOptions).
	Clients *kube.Clients
	// Namespaces are those whose releases the dashboard shows, in this
	// order; none: Clients' namespace. In serve mode each person sees
	// those they may read.
	Namespaces []string
	// By is who acts in local mode: recorded in the decisions taken
	// through the dashboard. Required in local mode; in serve mode the
	// API server names each person.
	By string
	// Serve, if set, is serve mode: for many people, each authenticated
	// and authorized by the API server.
	Serve *ServeOptions
	// Log receives the server's warnings and the decisions; nil discards.
	Log *slog.Logger
	// RootPath is the path the dashboard is served under ("/cutover"),
	// behind a proxy that passes it on; "" for the root. See CleanRootPath.
	RootPath string
	// Loopback serves only requests addressed to a loopback host
	// (127.0.0.1, ::1, localhost): in local mode, a web page elsewhere
	// that points a name of its own at 127.0.0.1 (DNS rebinding) would
	// otherwise read the pages, and their form token, as the kubeconfig's
	// user.
	Loopback bool
}

// Server is the dashboard of one or more namespaces.
type Server struct {
	opts  Options
	ctx   context.Context // ends the event streams
	local *person         // local mode's only person; nil in serve mode
	guard *guard          // serve mode's people; nil in local mode
	// own are the dashboard's own views of the records, for /metrics:
	// in serve mode those its identity may read (tried again at each
	// scrape, so that a Role granted later shows).
	own      *views
	pages    map[string]*template.Template
	handler  http.Handler
	draining atomic.Bool
}

// New watches the release records of the namespaces and returns once it
// has read them. The watches, and the event streams, end with ctx.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Clients == nil {
		return nil, errors.New("dashboard: no clients")
	}
	if opts.By == "" && opts.Serve == nil {
		return nil, errors.New("dashboard: who acts (By) is required: decisions record it")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Namespaces = uniqueNamespaces(opts.Namespaces, opts.Clients.Namespace)
	root, err := CleanRootPath(opts.RootPath)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	opts.RootPath = root
	pages, err := parsePages(root)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, ctx: ctx, pages: pages, own: newViews(ctx, opts.Clients, opts.Log)}
	if err := s.watchOwn(ctx); err != nil {
		return nil, err
	}
	if opts.Serve == nil {
		s.local = &person{name: opts.By, clients: opts.Clients, views: s.own, csrf: rand.Text()}
	} else {
		s.guard = newGuard(ctx, *opts.Serve, opts.Clients, opts.Log, []byte(rand.Text()))
	}
	h := underRoot(root, s.routes())
	if opts.Loopback {
		h = loopbackOnly(h)
	}
	s.handler = securityHeaders(h)
	return s, nil
}

// watchOwn starts the dashboard's own views of the namespaces' records:
// in local mode they are its person's, and one it cannot read is an
// error; in serve mode they feed /metrics only, and one its identity may
// not read is tried again at each scrape.
func (s *Server) watchOwn(ctx context.Context) error {
	for _, ns := range s.opts.Namespaces {
		_, err := s.own.of(ns)
		switch {
		case s.opts.Serve != nil && apierrors.IsForbidden(err):
			s.opts.Log.InfoContext(ctx, "dashboard: /metrics shows no releases of namespace "+ns+" until the dashboard's own identity may read its records (deploy/dashboard/metrics.yaml); people read them as themselves", "error", err)
		case err != nil:
			return fmt.Errorf("dashboard: %w", err)
		}
	}
	return nil
}

// Namespaces are those the dashboard shows, in order.
func (s *Server) Namespaces() []string { return slices.Clone(s.opts.Namespaces) }

// Handler serves the dashboard.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain makes /readyz answer 503 from now on: a server about to stop
// leaves its Service's endpoints before it closes its connections.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) routes() http.Handler {
	static, _ := fs.Sub(staticFiles, "static") // the directory is embedded: cannot fail
	people := http.NewServeMux()               // what a person sees and does
	people.HandleFunc("GET /{$}", s.appsPage)
	people.HandleFunc("GET /apps/{app}", s.findApp)
	people.HandleFunc("GET /apps/{ns}/{app}", s.appPage)
	people.HandleFunc("GET /apps/{ns}/{app}/diff", s.diffPage)
	people.HandleFunc("GET /apps/{ns}/{app}/{action}", s.confirmPage)
	people.HandleFunc("POST /apps/{ns}/{app}/{action}", s.act)
	people.HandleFunc("GET /events", s.events)
	mux := http.NewServeMux()
	mux.Handle("/", s.identify(people))
	if s.guard != nil {
		mux.HandleFunc("GET /signin", s.signInPage)
		mux.HandleFunc("POST /signin", s.signIn)
		people.HandleFunc("POST /signout", s.signOut)
	}
	mux.Handle("GET /metrics", metricsHandler(newMetrics(s.own, s.opts.Namespaces)))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", plain(func() (int, string) { return http.StatusOK, "ok" }))
	mux.HandleFunc("GET /readyz", plain(func() (int, string) {
		if s.draining.Load() {
			return http.StatusServiceUnavailable, "draining"
		}
		return http.StatusOK, "ok"
	}))
	return mux
}

// plain answers with f's status code and text.
func plain(f func() (int, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		code, text := f()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(text))
	}
}

// uniqueNamespaces returns nss without repeats or empty names, in their
// order; def alone when none is left.
func uniqueNamespaces(nss []string, def string) []string {
	var out []string
	for _, ns := range nss {
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	if len(out) == 0 {
		return []string{def}
	}
	return out
}

// contentSecurityPolicy allows the dashboard's own script and style
// files only: no inline script or style, no framing, forms posting to the
// dashboard only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// securityHeaders sets the security headers on every response. The
// referrer policy is same-origin, not no-referrer: under no-referrer a
// browser sends "Origin: null" with the dashboard's own form posts (the
// Origin header follows the referrer policy), which serve mode's Origin
// check must refuse as it refuses another site's.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// loopbackOnly refuses a request whose Host is not a loopback address
// or localhost.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "the local dashboard answers requests to a loopback address only", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// page is what a page template renders.
type page struct {
	Title string
	// Scope names the namespaces shown: "namespace a", "namespaces a, b".
	Scope string
	// Namespace is the app's, on an app's pages; ManyNamespaces says that
	// the apps view spans several (it then shows each app's).
	Namespace      string
	ManyNamespaces bool
	// User is the signed-in person, in serve mode; CSRF their form token.
	User string
	// Can says which actions the person may take (by the API server's
	// answer); a button they may not use is disabled.
	Can map[string]bool
	// TokenHeader is the proxy's header, for the sign-in page.
	TokenHeader string
	// App is the app the page shows, "" for the apps view: the live
	// script refreshes the page on changes of that app (Namespace/App).
	App     string
	Apps    []appRow
	Waiting int
	Release *releaseView
	Diff    *diffView
	Confirm *confirmView
	CSRF    string
	Message string // of an error page
	// Failed lists the namespaces whose records could not be read now.
	Failed []string
}

// Who names the viewer in the page's words: the signed-in person, or
// "you" (local mode).
func (p page) Who() string {
	if p.User != "" {
		return p.User
	}
	return "you"
}

// CleanRootPath checks a root path: "" or "/" is the root; else it must
// start with "/" and name a plain path (no query, fragment, "." or ".."
// part). It returns it without a trailing "/".
func CleanRootPath(p string) (string, error) {
	clean := strings.TrimSuffix(p, "/")
	if clean == "" {
		return "", nil
	}
	if !strings.HasPrefix(clean, "/") || strings.ContainsAny(clean, "?#%\\ ") || path.Clean(clean) != clean {
		return "", fmt.Errorf("root path %q: want an absolute path such as /cutover", p)
	}
	return clean, nil
}

// underRoot serves h under root: a request for root+"/x" reaches h as
// "/x"; root itself is sent on to root+"/"; anything else is not found.
func underRoot(root string, h http.Handler) http.Handler {
	if root == "" {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle(root+"/", http.StripPrefix(root, h))
	mux.Handle(root, http.RedirectHandler(root+"/", http.StatusMovedPermanently))
	return mux
}

// url is path under the dashboard's root path.
func (s *Server) url(path string) string { return s.opts.RootPath + path }

func parsePages(root string) (map[string]*template.Template, error) {
	funcs := template.FuncMap{"when": when,
		"url":     func(p string) string { return root + p },
		"appPath": func(ns, app string) string { return root + appPath(ns, app) }}
	pages := map[string]*template.Template{}
	for _, name := range []string{"apps", "app", "error", "signin", "diff", "confirm"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: parse templates: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

// when formats a time for people, in UTC; the zero time as nothing.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// render writes page p with status code.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	if p.Scope == "" && p.Namespace != "" {
		p.Scope = namesOf([]string{p.Namespace})
	}
	if p.Scope == "" {
		p.Scope = namesOf(s.opts.Namespaces)
	}
	if who := personOf(r.Context()); who != nil {
		p.CSRF = who.csrf
		if who.subject != nil {
			p.User = who.name
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := s.pages[name].ExecuteTemplate(w, "layout", p); err != nil {
		s.opts.Log.WarnContext(r.Context(), "dashboard: render page", "page", name, "error", err)
	}
}

// fail writes an error page; ns and app, when known, link back to the
// app's page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, ns, app, msg string) {
	s.render(w, r, code, "error", page{Title: http.StatusText(code), Namespace: ns, App: app, Message: msg})
}
