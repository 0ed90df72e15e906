package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/kube"
)

// ServeOptions configure serve mode, the dashboard for many people: each
// request carries its person's bearer token, which the API server
// reviews (TokenReview); what the person may see and do is asked of the
// API server too (SubjectAccessReview, the verbs of the matching CLI
// command), and the dashboard reads and acts as them (impersonation), so
// RBAC decides everything and the audit log names the person. The
// dashboard's own identity needs only to create TokenReviews and
// SubjectAccessReviews and to impersonate (deploy/dashboard).
type ServeOptions struct {
	// TokenHeader names a header an authenticating proxy in front of the
	// dashboard sets to the person's token (oauth2-proxy:
	// X-Forwarded-Access-Token). Whatever it is, "Authorization: Bearer"
	// and the sign-in form's session cookie are accepted too.
	TokenHeader string
	// SessionTTL bounds a sign-in through the form (default 8h). Each
	// request's token is reviewed again once its review is older than
	// ReviewTTL, so a token the API server stops accepting ends it sooner.
	SessionTTL time.Duration
	// ReviewTTL is how long a token's review and a person's permissions
	// are kept (default 10s): the delay before a revoked token or a
	// removed RoleBinding shows on the page. Actions are authorized again
	// by the API server as the person anyway.
	ReviewTTL time.Duration
	// IdleTTL is how long a person's views of the records (watches as
	// them) are kept after their last request (default 10m).
	IdleTTL time.Duration
}

func (o *ServeOptions) defaults() {
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.ReviewTTL <= 0 {
		o.ReviewTTL = 10 * time.Second
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = 10 * time.Minute
	}
}

// person is who a request comes from: the name decisions record, clients
// that act as them, their views of the records and their form token.
type person struct {
	name string
	// subject is the person as the API server authenticated them; nil in
	// local mode, where the kubeconfig's identity acts and the API server
	// alone decides.
	subject *access.Subject
	clients *kube.Clients
	views   *views
	csrf    string

	cancel   context.CancelFunc // ends the records' watches
	lastSeen atomic.Int64       // unix nanoseconds
	streams  atomic.Int32       // open event streams
}

func (p *person) seen() { p.lastSeen.Store(time.Now().UnixNano()) }

// actionNeeds are the permissions of each action of the release view.
var actionNeeds = map[string]func(ns string) []access.Need{
	"approve":  engine.DecideNeeds,
	"reject":   engine.DecideNeeds,
	"promote":  engine.PromoteNeeds,
	"abort":    engine.AbortNeeds,
	"rollback": engine.RollbackNeeds,
}

// guard is serve mode's: it knows people by their tokens and keeps their
// state.
type guard struct {
	opts ServeOptions
	base *kube.Clients // the dashboard's own identity
	key  []byte        // signs form tokens
	ctx  context.Context
	log  *slog.Logger

	mu       sync.Mutex
	reviews  map[[32]byte]review // by the token's hash
	allowed  map[string]verdict  // by person and action
	people   onceEach[*person]   // by identity
	sessions map[string]session  // by cookie value
}

type review struct {
	subject access.Subject
	until   time.Time
}

type verdict struct {
	ok    bool
	until time.Time
}

type session struct {
	token   string
	expires time.Time
}

func newGuard(ctx context.Context, opts ServeOptions, base *kube.Clients, log *slog.Logger, key []byte) *guard {
	opts.defaults()
	g := &guard{opts: opts, base: base, key: key, ctx: ctx, log: log,
		reviews: map[[32]byte]review{}, allowed: map[string]verdict{}, sessions: map[string]session{}}
	go g.sweep(ctx)
	return g
}

// errUnauthenticated is a request without a token the API server accepts.
var errUnauthenticated = errors.New("not signed in")

// authenticate reviews token with the API server (a TokenReview), or
// takes the review kept from the last ReviewTTL.
func (g *guard) authenticate(ctx context.Context, token string) (access.Subject, error) {
	if token == "" {
		return access.Subject{}, errUnauthenticated
	}
	sum := sha256.Sum256([]byte(token))
	g.mu.Lock()
	r, ok := g.reviews[sum]
	g.mu.Unlock()
	if ok && time.Now().Before(r.until) {
		return r.subject, nil
	}
	got, err := g.base.Typed.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return access.Subject{}, fmt.Errorf("review the token: %w", err)
	}
	if !got.Status.Authenticated {
		return access.Subject{}, fmt.Errorf("%w: the API server refused the token%s", errUnauthenticated, reason(got.Status.Error))
	}
	u := got.Status.User
	// Extra fields (a token's credential ID, its pod) are left out: RBAC
	// reads none, and impersonating each would need a grant of its own.
	s := access.Subject{User: u.Username, UID: u.UID, Groups: u.Groups}
	g.mu.Lock()
	g.reviews[sum] = review{subject: s, until: time.Now().Add(g.opts.ReviewTTL)}
	g.mu.Unlock()
	return s, nil
}

func reason(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

// may reports whether s may take action (a key of actionNeeds, or "view")
// in namespace ns, asking the API server once per ReviewTTL.
func (g *guard) may(ctx context.Context, s access.Subject, ns, action string) (bool, error) {
	key := identity(s) + "\x00" + ns + "\x00" + action
	g.mu.Lock()
	v, ok := g.allowed[key]
	g.mu.Unlock()
	if ok && time.Now().Before(v.until) {
		return v.ok, nil
	}
	needs := engine.ViewNeeds
	if action != "view" {
		needs = actionNeeds[action]
	}
	denied, err := access.Denied(ctx, g.base.Typed, s, needs(ns))
	if err != nil {
		return false, err
	}
	g.mu.Lock()
	g.allowed[key] = verdict{ok: len(denied) == 0, until: time.Now().Add(g.opts.ReviewTTL)}
	g.mu.Unlock()
	return len(denied) == 0, nil
}

// identity keys a person: their name, UID and groups.
func identity(s access.Subject) string {
	groups := slices.Clone(s.Groups)
	slices.Sort(groups)
	return s.User + "\x00" + s.UID + "\x00" + strings.Join(groups, "\x00")
}

// person returns s's state, made on their first request.
func (g *guard) person(s access.Subject) (*person, error) {
	p, err := g.people.get(identity(s), func() (*person, error) { return g.start(s) })
	if err != nil {
		return nil, err
	}
	p.seen()
	return p, nil
}

// start builds clients that impersonate s; their views of the records
// (watches as them) start when a page needs them.
func (g *guard) start(s access.Subject) (*person, error) {
	clients, err := g.base.As(rest.ImpersonationConfig{UserName: s.User, UID: s.UID, Groups: s.Groups})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(g.ctx)
	p := &person{name: s.User, subject: &s, clients: clients, views: newViews(ctx, clients, g.log), cancel: cancel, csrf: g.formToken(s)}
	return p, nil
}

// formToken is s's CSRF token: tied to them, so that one person's token
// is worthless in another's request, and stable across their sessions.
func (g *guard) formToken(s access.Subject) string {
	mac := hmac.New(sha256.New, g.key)
	mac.Write([]byte("csrf\x00" + identity(s)))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// sweep ends the views of people idle for IdleTTL, and forgets expired
// reviews, verdicts and sessions, until ctx ends.
func (g *guard) sweep(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		g.sweepOnce(time.Now())
	}
}

func (g *guard) sweepOnce(now time.Time) {
	g.people.drop(func(p *person) bool {
		idle := p.streams.Load() == 0 && now.Sub(time.Unix(0, p.lastSeen.Load())) > g.opts.IdleTTL
		if idle {
			p.cancel()
		}
		return idle
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, r := range g.reviews {
		if now.After(r.until) {
			delete(g.reviews, k)
		}
	}
	for k, v := range g.allowed {
		if now.After(v.until) {
			delete(g.allowed, k)
		}
	}
	for k, s := range g.sessions {
		if now.After(s.expires) {
			delete(g.sessions, k)
		}
	}
}
