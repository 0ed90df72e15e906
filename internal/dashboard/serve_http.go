package dashboard

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessionCookie holds a sign-in's session: a random name for the token
// the dashboard keeps in memory (never the token itself).
const sessionCookie = "cutover_session"

type personKey struct{}

// personOf returns the request's person, set by identify.
func personOf(ctx context.Context) *person {
	p, _ := ctx.Value(personKey{}).(*person)
	return p
}

// tokenOf returns the request's bearer token: the proxy's header, an
// Authorization header, or the session the cookie names. fromHeader
// reports one of the first two.
func (g *guard) tokenOf(r *http.Request) (token string, fromHeader bool) {
	if g.opts.TokenHeader != "" {
		if t := strings.TrimSpace(r.Header.Get(g.opts.TokenHeader)); t != "" {
			return strings.TrimPrefix(t, "Bearer "), true
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(t), true
		}
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.sessions[c.Value]; ok && time.Now().Before(s.expires) {
		return s.token, false
	}
	return "", false
}

// identify finds the request's person: in local mode always the
// kubeconfig's identity; in serve mode the API server's answer about the
// request's token. What they may read and do, namespace by namespace, the
// pages ask.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.guard == nil {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), personKey{}, s.local)))
			return
		}
		if !sameOrigin(r) {
			s.fail(w, r, http.StatusForbidden, "", "", "The request came from another site.")
			return
		}
		token, fromHeader := s.guard.tokenOf(r)
		subject, err := s.guard.authenticate(r.Context(), token)
		switch {
		case errors.Is(err, errUnauthenticated) && !fromHeader && r.Method == http.MethodGet && r.URL.Path != "/events":
			http.Redirect(w, r, s.url("/signin"), http.StatusSeeOther)
			return
		case errors.Is(err, errUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="cutover"`)
			s.fail(w, r, http.StatusUnauthorized, "", "", "Sign in: "+err.Error()+".")
			return
		case err != nil:
			s.opts.Log.ErrorContext(r.Context(), "dashboard: authenticate", "error", err)
			s.fail(w, r, http.StatusServiceUnavailable, "", "", "The API server could not review your token: "+err.Error())
			return
		}
		p, err := s.guard.person(subject)
		if err != nil {
			s.opts.Log.ErrorContext(r.Context(), "dashboard: act as "+subject.User, "error", err)
			s.fail(w, r, http.StatusServiceUnavailable, "", "", "The dashboard cannot act as "+subject.User+": "+err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), personKey{}, p)))
	})
}

// sameOrigin refuses a request whose Origin header names another host: a
// form another site posts, with the person's cookie or their proxy's
// header. Browsers send Origin with every POST; requests without one
// (curl, scripts) carry their token themselves.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// can reports which actions p may take in namespace ns, for the page's
// buttons.
func (s *Server) can(ctx context.Context, p *person, ns string) map[string]bool {
	out := make(map[string]bool, len(actionNeeds))
	for a := range actionNeeds {
		out[a] = s.mayAct(ctx, p, ns, a)
	}
	return out
}

// mayAct reports whether p may take action ("view" or a key of
// actionNeeds) in namespace ns: always in local mode (the API server
// decides when they act), else the API server's answer.
func (s *Server) mayAct(ctx context.Context, p *person, ns, action string) bool {
	if p.subject == nil {
		return true
	}
	ok, err := s.guard.may(ctx, *p.subject, ns, action)
	if err != nil {
		s.opts.Log.WarnContext(ctx, "dashboard: review permissions", "user", p.name, "namespace", ns, "action", action, "error", err)
	}
	return ok && err == nil
}

// signInPage shows the sign-in form.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", TokenHeader: s.guard.opts.TokenHeader})
}

// signIn takes a token from the form, has the API server review it, and
// keeps it in a session named by an HttpOnly, Secure, SameSite=Strict
// cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		s.fail(w, r, http.StatusForbidden, "", "", "The request came from another site.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "", "", "The form could not be read: "+err.Error())
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	subject, err := s.guard.authenticate(r.Context(), token)
	if err != nil {
		code := http.StatusUnauthorized
		if !errors.Is(err, errUnauthenticated) {
			code = http.StatusServiceUnavailable
		}
		s.render(w, r, code, "signin", page{Title: "Sign in", Message: err.Error(), TokenHeader: s.guard.opts.TokenHeader})
		return
	}
	id := rand.Text()
	expires := time.Now().Add(s.guard.opts.SessionTTL)
	s.guard.mu.Lock()
	s.guard.sessions[id] = session{token: token, expires: expires}
	s.guard.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: s.url("/"), Expires: expires,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	s.opts.Log.InfoContext(r.Context(), "dashboard: signed in", "user", subject.User)
	http.Redirect(w, r, s.url("/"), http.StatusSeeOther)
}

// signOut ends the session of the cookie.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	p := personOf(r.Context())
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !validToken(p.csrf, r.PostForm.Get("csrf")) {
		s.fail(w, r, http.StatusForbidden, "", "", "The form's token is missing or wrong: reload the page and try again.")
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.guard.mu.Lock()
		delete(s.guard.sessions, c.Value)
		s.guard.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: s.url("/"), MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, s.url("/signin"), http.StatusSeeOther)
}
