package dashboard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/access"
)

func TestTokenOf(t *testing.T) {
	g := &guard{opts: ServeOptions{TokenHeader: "X-Forwarded-Access-Token"}, sessions: map[string]session{
		"live":    {token: "from-session", expires: time.Now().Add(time.Hour)},
		"expired": {token: "old", expires: time.Now().Add(-time.Second)},
	}}
	cases := []struct {
		name       string
		header     map[string]string
		cookie     string
		want       string
		fromHeader bool
	}{
		{"nothing", nil, "", "", false},
		{"the proxy's header", map[string]string{"X-Forwarded-Access-Token": "p"}, "", "p", true},
		{"the proxy's header wins", map[string]string{"X-Forwarded-Access-Token": "p", "Authorization": "Bearer a"}, "live", "p", true},
		{"bearer", map[string]string{"Authorization": "Bearer a"}, "", "a", true},
		{"bearer in any case", map[string]string{"Authorization": "bearer a"}, "", "a", true},
		{"basic is not a token", map[string]string{"Authorization": "Basic YTpi"}, "", "", false},
		{"a session", nil, "live", "from-session", false},
		{"an expired session", nil, "expired", "", false},
		{"an unknown session", nil, "forged", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			if c.cookie != "" {
				r.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
			}
			got, fromHeader := g.tokenOf(r)
			if got != c.want || fromHeader != c.fromHeader {
				t.Errorf("tokenOf = %q, %v; want %q, %v", got, fromHeader, c.want, c.fromHeader)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	cases := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://dash.example.com", true},
		{"http://dash.example.com", true}, // the host decides; TLS may end at a proxy
		{"https://attacker.example", false},
		{"https://dash.example.com.attacker.example", false},
		{"null", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, "https://dash.example.com/apps/web/approve", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := sameOrigin(r); got != c.ok {
			t.Errorf("sameOrigin with Origin %q = %v, want %v", c.origin, got, c.ok)
		}
	}
}

// A person's form token is theirs alone, and the same across sessions.
func TestFormTokenIsPerPerson(t *testing.T) {
	g := &guard{key: []byte("key")}
	alice := access.Subject{User: "alice", Groups: []string{"b", "a"}}
	if g.formToken(alice) != g.formToken(access.Subject{User: "alice", Groups: []string{"a", "b"}}) {
		t.Error("the token depends on the groups' order")
	}
	if g.formToken(alice) == g.formToken(access.Subject{User: "bob", Groups: []string{"a", "b"}}) {
		t.Error("alice and bob share a token")
	}
	if g.formToken(alice) == (&guard{key: []byte("other")}).formToken(alice) {
		t.Error("the token does not depend on the server's key")
	}
}

// sweepOnce ends idle people's views and forgets what expired, but keeps
// a person with an open event stream.
func TestSweep(t *testing.T) {
	now := time.Now()
	g := &guard{opts: ServeOptions{IdleTTL: time.Minute},
		reviews: map[[32]byte]review{{1}: {until: now.Add(-time.Second)}, {2}: {until: now.Add(time.Second)}},
		allowed: map[string]verdict{"old": {until: now.Add(-time.Second)}}, sessions: map[string]session{"old": {expires: now.Add(-time.Second)}}}
	ended := map[string]bool{}
	add := func(name string, idle time.Duration, streams int32) {
		p := &person{name: name, cancel: func() { ended[name] = true }}
		p.lastSeen.Store(now.Add(-idle).UnixNano())
		p.streams.Store(streams)
		if _, err := g.people.get(name, func() (*person, error) { return p, nil }); err != nil {
			t.Fatal(err)
		}
	}
	add("idle", 2*time.Minute, 0)
	add("watching", 2*time.Minute, 1)
	add("recent", 10*time.Second, 0)
	g.sweepOnce(now)
	if !ended["idle"] || ended["watching"] || ended["recent"] || g.people.len() != 2 {
		t.Errorf("ended %v, kept %d people; want only idle ended", ended, g.people.len())
	}
	if len(g.reviews) != 1 || len(g.allowed) != 0 || len(g.sessions) != 0 {
		t.Errorf("kept %d reviews, %d verdicts, %d sessions; want 1, 0, 0", len(g.reviews), len(g.allowed), len(g.sessions))
	}
}

// onceEach makes a key's value once for concurrent gets, and tries a
// failed make again.
func TestOnceEach(t *testing.T) {
	var o onceEach[int]
	var made atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := o.get("a", func() (int, error) { made.Add(1); return 7, nil })
			if v != 7 || err != nil {
				t.Errorf("get: %d, %v; want 7", v, err)
			}
		}()
	}
	wg.Wait()
	if made.Load() != 1 {
		t.Errorf("made %d times for 8 concurrent gets, want once", made.Load())
	}
	failing := errors.New("refused")
	if _, err := o.get("b", func() (int, error) { return 0, failing }); !errors.Is(err, failing) {
		t.Errorf("a failing make: %v, want %v", err, failing)
	}
	if v, err := o.get("b", func() (int, error) { return 9, nil }); v != 9 || err != nil {
		t.Errorf("after a failure: %d, %v; want 9 (made again)", v, err)
	}
	o.drop(func(v int) bool { return v == 7 })
	if o.len() != 1 {
		t.Errorf("after dropping a: %d keys, want 1", o.len())
	}
}

func TestCleanRootPath(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"/", "", true},
		{"/cutover", "/cutover", true},
		{"/cutover/", "/cutover", true},
		{"/tools/cutover", "/tools/cutover", true},
		{"cutover", "", false},
		{"/a/../b", "", false},
		{"//cutover", "", false},
		{"/cutover?x=1", "", false},
		{"/cut over", "", false},
		{"/%2e%2e", "", false},
	}
	for _, c := range cases {
		got, err := CleanRootPath(c.in)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("CleanRootPath(%q) = %q, %v; want %q, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}
