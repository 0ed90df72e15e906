package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/strategy"
)

// Bad input is refused before any request: the clients are not needed.
func TestDecideRefusesBadInput(t *testing.T) {
	cases := []struct {
		name    string
		req     DecideRequest
		wantMsg string
	}{
		{"nobody decides", DecideRequest{Run: Run{App: "web"}, Approve: true}, "who decides is required"},
		{"app name not a DNS label", DecideRequest{Run: Run{App: "Web_App"}, By: "alice"}, `invalid app name "Web_App"`},
		{"no app", DecideRequest{By: "alice"}, `invalid app name ""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decide(context.Background(), tc.req)
			if r != nil || !errors.Is(err, strategy.ErrRefused) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Decide = %v, %v; want a refusal saying %q", r, err, tc.wantMsg)
			}
		})
	}
}

// A refusal keeps the text of the error it marks.
func TestRefusalKeepsText(t *testing.T) {
	inner := errors.New("decide approval: app web: no release is waiting for approval")
	err := error(refusal{inner})
	if err.Error() != inner.Error() || !errors.Is(err, inner) || !errors.Is(err, strategy.ErrRefused) {
		t.Fatalf("refusal %q: is inner %v, is refused %v", err, errors.Is(err, inner), errors.Is(err, strategy.ErrRefused))
	}
}

func TestPageURL(t *testing.T) {
	cases := []struct{ base, ns, app, want string }{
		{"", "prod", "web", ""},
		{"https://cutover.example.com", "prod", "web", "https://cutover.example.com/apps/prod/web"},
		{"https://cutover.example.com/", "prod", "web", "https://cutover.example.com/apps/prod/web"},
		{"https://example.com/cutover", "prod", "web", "https://example.com/cutover/apps/prod/web"},
		{"https://cutover.example.com", "prod", "a b", "https://cutover.example.com/apps/prod/a%20b"},
	}
	for _, c := range cases {
		if got := PageURL(c.base, c.ns, c.app); got != c.want {
			t.Errorf("PageURL(%q, %q, %q) = %q, want %q", c.base, c.ns, c.app, got, c.want)
		}
	}
}
