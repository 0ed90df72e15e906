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
	"time"

	"github.com/cutover/cutover/internal/kube"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Options configure a Server.
type Options struct {
	// Clients reach the namespace whose releases the dashboard shows, as
	// the person running it (local mode).
	Clients *kube.Clients
	// By is who acts: recorded in the decisions taken through the
	// dashboard. Required.
	By string
	// Log receives the server's warnings and the decisions; nil discards.
	Log *slog.Logger
	// Loopback serves only requests addressed to a loopback host
	// (127.0.0.1, ::1, localhost): in local mode, a web page elsewhere
	// that points a name of its own at 127.0.0.1 (DNS rebinding) would
	// otherwise read the pages, and their form token, as the kubeconfig's
	// user.
	Loopback bool
}

// Server is the dashboard of one namespace.
type Server struct {
	opts    Options
	ctx     context.Context // ends the event streams
	records *records
	csrf    string
	pages   map[string]*template.Template
	handler http.Handler
}

// New watches the release records of opts.Clients' namespace and returns
// once it has read them. The watch, and the event streams, end with ctx.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Clients == nil {
		return nil, errors.New("dashboard: no clients")
	}
	if opts.By == "" {
		return nil, errors.New("dashboard: who acts (By) is required: decisions record it")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	recs, err := watchRecords(ctx, opts.Clients, opts.Log)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s := &Server{opts: opts, ctx: ctx, records: recs, csrf: rand.Text(), pages: pages}
	h := s.routes()
	if opts.Loopback {
		h = loopbackOnly(h)
	}
	s.handler = securityHeaders(h)
	return s, nil
}

// Handler serves the dashboard.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	static, _ := fs.Sub(staticFiles, "static") // the directory is embedded: cannot fail
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.appsPage)
	mux.HandleFunc("GET /apps/{app}", s.appPage)
	mux.HandleFunc("POST /apps/{app}/{action}", s.act)
	mux.HandleFunc("GET /events", s.events)
	mux.Handle("GET /metrics", metricsHandler(newMetrics(s.records, s.opts.Clients.Namespace)))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

// contentSecurityPolicy allows the dashboard's own script and style
// files only: no inline script or style, no framing, forms posting to the
// dashboard only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// securityHeaders sets the security headers on every response.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
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
	Title, Namespace string
	// App is the app the page shows, "" for the apps view: the live
	// script refreshes the page on changes of that app.
	App     string
	Apps    []appRow
	Waiting int
	Release *releaseView
	CSRF    string
	Message string // of an error page
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"when": when}
	pages := map[string]*template.Template{}
	for _, name := range []string{"apps", "app", "error"} {
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
	p.Namespace = s.opts.Clients.Namespace
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := s.pages[name].ExecuteTemplate(w, "layout", p); err != nil {
		s.opts.Log.WarnContext(r.Context(), "dashboard: render page", "page", name, "error", err)
	}
}

// fail writes an error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, app, msg string) {
	s.render(w, r, code, "error", page{Title: http.StatusText(code), App: app, Message: msg})
}
