package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/notify"
)

// secretPath is what a Slack webhook URL keeps secret.
const (
	secretPath  = "/services/T0001/B0002/XyZsecretToken123"
	secretQuery = "token=qUeRySeCrEt"
)

// received is one request a test server got.
type received struct {
	method, path string
	header       http.Header
	body         map[string]any
	text         string
}

// hookServer answers every request with status and body and passes what it
// got on the returned channel.
func hookServer(t *testing.T, status int, body string) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := received{method: r.Method, path: r.URL.Path, header: r.Header}
		if err := json.Unmarshal(raw, &rec.body); err != nil {
			t.Errorf("body is not JSON: %v: %s", err, raw)
		}
		rec.text, _ = rec.body["text"].(string)
		got <- rec
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestWebhookPostsJSON(t *testing.T) {
	srv, got := hookServer(t, http.StatusOK, "ok")
	w := notify.Webhook{
		URL:     srv.URL + secretPath,
		Headers: map[string]string{"Authorization": "Bearer abc123", "X-Team": "ops"},
	}
	m := testMessage()
	if err := w.Notify(context.Background(), m); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	r := <-got
	if r.method != http.MethodPost || r.path != secretPath {
		t.Errorf("%s %s", r.method, r.path)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Authorization": "Bearer abc123", "X-Team": "ops"} {
		if r.header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	for _, s := range []string{"web", "prod", "blue", "green", "cutover approve web -n prod", "cutover reject web -n prod", "registry.example.com/web:1.5.0", "2025-05-01 10:30:00 UTC"} {
		if !strings.Contains(r.text, s) {
			t.Errorf("text lacks %q:\n%s", s, r.text)
		}
	}
	want := map[string]any{
		"app": "web", "namespace": "prod", "strategy": "blue-green", "from": "blue", "to": "green",
		"approve_command": "cutover approve web -n prod", "reject_command": "cutover reject web -n prod",
		"deadline": "2025-05-01T10:30:00Z", "waiting_since": "2025-05-01T10:00:00Z",
		"run_id": "42", "run_url": "https://ci.example.com/job/web/42/", "subject": m.Subject(),
	}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, r.body[k], v)
		}
	}
	if imgs, _ := r.body["to_images"].([]any); len(imgs) != 1 || imgs[0] != "registry.example.com/web:1.5.0" {
		t.Errorf("to_images = %#v", r.body["to_images"])
	}
}

func TestWebhookEscapesSlackMarkup(t *testing.T) {
	srv, got := hookServer(t, http.StatusOK, "")
	m := testMessage()
	m.App = "<!channel>"
	m.RunURL = "https://ci.example.com/job?a=1&b=2"
	if err := (notify.Webhook{URL: srv.URL}).Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if strings.ContainsAny(r.text, "<>") || !strings.Contains(r.text, "&lt;!channel&gt;") || !strings.Contains(r.text, "a=1&amp;b=2") {
		t.Errorf("text not escaped for Slack:\n%s", r.text)
	}
	if r.body["app"] != "<!channel>" {
		t.Errorf("app = %q, want it unescaped", r.body["app"])
	}
}

func TestWebhookErrorsHideSecrets(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name   string
		status int
		body   string
		want   []string
	}{
		{"slack 404", http.StatusNotFound, "no_team", []string{"status 404 Not Found: no_team"}},
		{"slack 403", http.StatusForbidden, "invalid_token\n", []string{"status 403 Forbidden: invalid_token"}},
		{"empty body", http.StatusInternalServerError, "", []string{"status 500 Internal Server Error"}},
		{"long body", http.StatusBadGateway, long, []string{"status 502 Bad Gateway: " + long[:200] + "…"}},
		{"body echoes the URL", http.StatusBadRequest, "bad path " + secretPath + "?" + secretQuery + " and header Bearer abc123",
			[]string{"status 400 Bad Request: bad path [redacted]?[redacted] and header [redacted]"}},
		{"redirect is not followed", http.StatusFound, "", []string{"status 302 Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := hookServer(t, tt.status, tt.body)
			w := notify.Webhook{
				URL:     srv.URL + secretPath + "?" + secretQuery,
				Headers: map[string]string{"Authorization": "Bearer abc123"},
			}
			err := w.Notify(context.Background(), testMessage())
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "webhook "+srv.URL+": ") {
				t.Errorf("error %q does not start with the scheme and host", msg)
			}
			for _, s := range tt.want {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q lacks %q", msg, s)
				}
			}
			assertNoSecret(t, msg)
			assertNoSecret(t, w.Name())
		})
	}
}

func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{"XyZsecretToken123", "T0001", "qUeRySeCrEt", "abc123"} {
		if strings.Contains(s, secret) {
			t.Errorf("%q shows the secret %q", s, secret)
		}
	}
}

func TestWebhookConnectErrorHidesURL(t *testing.T) {
	srv, _ := hookServer(t, http.StatusOK, "")
	url := srv.URL + secretPath + "?" + secretQuery
	srv.Close() // nothing listens any more
	err := notify.Webhook{URL: url}.Notify(context.Background(), testMessage())
	if err == nil {
		t.Fatal("no error")
	}
	assertNoSecret(t, err.Error())
}

func TestWebhookHonorsContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the handler end
	tests := []struct {
		name    string
		timeout time.Duration // Webhook.Timeout
		ctx     time.Duration // 0: no deadline
	}{
		{"ctx deadline", 0, 200 * time.Millisecond},
		{"own timeout", 200 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			start := time.Now()
			err := notify.Webhook{URL: srv.URL + secretPath, Timeout: tt.timeout}.Notify(ctx, testMessage())
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			assertNoSecret(t, err.Error())
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("returned after %v", d)
			}
		})
	}
}

func TestWebhookValidate(t *testing.T) {
	tests := []struct {
		name string
		w    notify.Webhook
		want string // "" means valid
	}{
		{"ok", notify.Webhook{URL: "https://hooks.slack.com" + secretPath}, ""},
		{"http is allowed", notify.Webhook{URL: "http://127.0.0.1:8080/hook"}, ""},
		{"no URL", notify.Webhook{}, "webhook: URL is required"},
		{"unparsable", notify.Webhook{URL: "https://hooks.slack.com/%zz" + secretPath}, "webhook: URL is not a valid URL"},
		{"scheme", notify.Webhook{URL: "ftp://hooks.example.com" + secretPath}, "webhook: URL ftp://hooks.example.com: scheme must be http or https"},
		{"no host", notify.Webhook{URL: "https://" + secretPath}, "webhook: URL has no host"},
		{"relative", notify.Webhook{URL: secretPath}, "scheme must be http or https"},
		{"header name", notify.Webhook{URL: "https://h.example.com/x", Headers: map[string]string{"Bad Name": "v"}}, `webhook: Headers["Bad Name"]: not a valid header name`},
		{"header value", notify.Webhook{URL: "https://h.example.com/x", Headers: map[string]string{"Authorization": "abc123\r\nX-Evil: 1"}}, `webhook: Headers["Authorization"]: value contains a line break`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			case err != nil:
				assertNoSecret(t, err.Error())
			}
		})
	}
}

func TestWebhookName(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://hooks.slack.com" + secretPath, "webhook https://hooks.slack.com"},
		{"https://user:pass@chat.example.com:8443/hooks/abc?" + secretQuery, "webhook https://chat.example.com:8443"},
		{"::not a url", "webhook (invalid URL)"},
	}
	for _, tt := range tests {
		if got := (notify.Webhook{URL: tt.url}).Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
	}
}
