package notify_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/notify"
)

func TestAllSendsToEveryoneAndJoinsErrors(t *testing.T) {
	t.Setenv(passwordEnv, password)
	okSrv, okGot := hookServer(t, http.StatusOK, "ok")
	badSrv, _ := hookServer(t, http.StatusServiceUnavailable, "down")
	mailSrv := startSMTP(t, serverOptions{User: "deployer", Password: password})
	notifiers := []notify.Notifier{
		notify.Webhook{URL: badSrv.URL + secretPath},
		nil, // skipped
		notify.Webhook{URL: okSrv.URL + secretPath},
		smtpFor(mailSrv, notify.TLSStartTLS),
	}
	err := notify.All(context.Background(), testMessage(), notifiers...)
	if err == nil || !strings.Contains(err.Error(), "webhook "+badSrv.URL+": status 503 Service Unavailable: down") {
		t.Fatalf("err = %v, want the 503", err)
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("err = %q, want only the failed notifier", err)
	}
	if r := <-okGot; !strings.Contains(r.text, "cutover approve web -n prod") {
		t.Errorf("webhook got %q", r.text)
	}
	if sess := mailSrv.next(t); sess.data == "" {
		t.Errorf("no mail: %+v", sess)
	}
}

func TestAllNil(t *testing.T) {
	if err := notify.All(context.Background(), testMessage()); err != nil {
		t.Errorf("no notifiers: %v", err)
	}
	if err := notify.All(context.Background(), testMessage(), nil, nil); err != nil {
		t.Errorf("nil notifiers: %v", err)
	}
}

// stuck is a Notifier written without regard for ctx, as a third-party one
// might be: it returns only when released.
type stuck struct{ release chan struct{} }

func (stuck) Name() string { return "stuck" }

func (s stuck) Notify(context.Context, notify.Message) error {
	<-s.release
	return nil
}

// panicky is a Notifier with a bug.
type panicky struct{}

func (panicky) Name() string                                 { return "panicky" }
func (panicky) Notify(context.Context, notify.Message) error { panic("boom") }

func TestAllDoesNotWaitPastContext(t *testing.T) {
	s := stuck{release: make(chan struct{})}
	t.Cleanup(func() { close(s.release) })
	okSrv, _ := hookServer(t, http.StatusOK, "")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := notify.Multi{s, notify.Webhook{URL: okSrv.URL}}.Notify(ctx, testMessage())
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "stuck: gave up waiting") {
		t.Fatalf("err = %v, want stuck: gave up waiting: context deadline exceeded", err)
	}
	if strings.Contains(err.Error(), "webhook") {
		t.Errorf("err = %v: the webhook had succeeded", err)
	}
}

func TestAllRecoversPanics(t *testing.T) {
	err := notify.All(context.Background(), testMessage(), panicky{})
	if err == nil || err.Error() != "panicky: panic: boom" {
		t.Fatalf("err = %v", err)
	}
}

func TestMulti(t *testing.T) {
	m := notify.Multi{
		notify.Webhook{URL: "https://hooks.slack.com" + secretPath},
		nil,
		notify.SMTP{Host: "smtp.example.com", TLS: notify.TLSNone, From: "a@example.com"},
		panicky{},
	}
	if got, want := m.Name(), "webhook https://hooks.slack.com, smtp smtp.example.com:25, panicky"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	err := m.Validate()
	if err == nil || err.Error() != "smtp: To needs at least one address" {
		t.Errorf("Validate() = %v", err)
	}
}
