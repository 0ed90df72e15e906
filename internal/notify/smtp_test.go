package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/notify"
)

const (
	passwordEnv = "CUTOVER_TEST_SMTP_PASSWORD"
	password    = "s3cret-Pa55"
)

// testMessage is a typical wait for approval.
func testMessage() notify.Message {
	since := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	return notify.Message{
		App: "web", Namespace: "prod", Strategy: "blue-green",
		FromColor: "blue", ToColor: "green",
		FromImages: []string{"registry.example.com/web:1.4.2"},
		ToImages:   []string{"registry.example.com/web:1.5.0"},
		RunID:      "42", RunURL: "https://ci.example.com/job/web/42/",
		WaitingSince: since, Deadline: since.Add(30 * time.Minute),
	}
}

// smtpFor is a config that talks to srv.
func smtpFor(srv *smtpServer, mode notify.TLSMode) notify.SMTP {
	s := notify.SMTP{
		Host: srv.host, Port: srv.port, TLS: mode,
		From:      "Cutover <cutover@example.com>",
		To:        []string{"ops@example.com", "Ana Lima <ana@example.com>"},
		TLSConfig: srv.clientTLS(),
		Timeout:   10 * time.Second,
	}
	if mode != notify.TLSNone {
		s.Username, s.PasswordEnv = "deployer", passwordEnv
	}
	return s
}

func TestSMTPDelivers(t *testing.T) {
	tests := []struct {
		mode         notify.TLSMode
		opts         serverOptions
		wantStartTLS bool
	}{
		{notify.TLSStartTLS, serverOptions{User: "deployer", Password: password}, true},
		{notify.TLSImplicit, serverOptions{Implicit: true, User: "deployer", Password: password}, false},
		{notify.TLSNone, serverOptions{NoStartTLS: true}, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Setenv(passwordEnv, password)
			srv := startSMTP(t, tt.opts)
			cfg := smtpFor(srv, tt.mode)
			m := testMessage()
			if err := cfg.Notify(context.Background(), m); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			sess := srv.next(t)
			if sess.startTLS != tt.wantStartTLS || sess.tls != (tt.mode != notify.TLSNone) {
				t.Errorf("startTLS=%v tls=%v, want %v and %v", sess.startTLS, sess.tls, tt.wantStartTLS, tt.mode != notify.TLSNone)
			}
			checkAuth(t, sess, tt.mode != notify.TLSNone)
			checkEnvelope(t, sess)
			checkMail(t, sess.data, m)
		})
	}
}

func checkAuth(t *testing.T, sess session, want bool) {
	t.Helper()
	if !want {
		if sess.authUser != "" {
			t.Errorf("authenticated as %q, want no AUTH", sess.authUser)
		}
		return
	}
	if !sess.authenticated || sess.authUser != "deployer" || sess.authPass != password || sess.authIdentity != "" {
		t.Errorf("auth: identity %q user %q pass %q ok=%v, want deployer with the password from $%s",
			sess.authIdentity, sess.authUser, sess.authPass, sess.authenticated, passwordEnv)
	}
}

func checkEnvelope(t *testing.T, sess session) {
	t.Helper()
	if sess.mailFrom != "cutover@example.com" {
		t.Errorf("MAIL FROM %q", sess.mailFrom)
	}
	if want := []string{"ops@example.com", "ana@example.com"}; !slices.Equal(sess.rcptTo, want) {
		t.Errorf("RCPT TO %q, want %q", sess.rcptTo, want)
	}
	if !sess.quit {
		t.Error("no QUIT")
	}
}

func checkMail(t *testing.T, data string, m notify.Message) {
	t.Helper()
	for i, line := range strings.Split(data, "\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long: %q", i+1, len(line), line)
		}
	}
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	checkHeaders(t, msg.Header, m)
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body is not quoted-printable: %v", err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != m.Text() {
		t.Errorf("body:\n%s\nwant:\n%s", got, m.Text())
	}
}

func checkHeaders(t *testing.T, h mail.Header, m notify.Message) {
	t.Helper()
	if d, err := h.Date(); err != nil || time.Since(d).Abs() > time.Minute {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Name != "Cutover" || from.Address != "cutover@example.com" {
		t.Errorf("From %q", h.Get("From"))
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "ops@example.com" || to[1].Name != "Ana Lima" {
		t.Errorf("To %q: %v", h.Get("To"), err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject() {
		t.Errorf("Subject %q decodes to %q (%v), want %q", h.Get("Subject"), subject, err, m.Subject())
	}
	if id := h.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{24}\.[0-9]+@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID %q", id)
	}
	want := map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
		"Bcc":                       "",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

func TestSMTPStartTLSRequiredButNotOffered(t *testing.T) {
	t.Setenv(passwordEnv, password)
	srv := startSMTP(t, serverOptions{NoStartTLS: true, User: "deployer", Password: password})
	err := smtpFor(srv, notify.TLSStartTLS).Notify(context.Background(), testMessage())
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("err = %v, want: server does not offer STARTTLS", err)
	}
	sess := srv.next(t)
	if sess.tls || sess.authUser != "" || sess.mailFrom != "" || sess.data != "" {
		t.Errorf("went on without TLS: %+v", sess)
	}
}

func TestSMTPAuthFailures(t *testing.T) {
	tests := []struct {
		name    string
		opts    serverOptions
		want    string
		wantTry bool // the password was sent
	}{
		{"wrong password", serverOptions{User: "deployer", Password: "other"}, "535", true},
		{"no PLAIN", serverOptions{User: "deployer", Password: password, AuthMechs: "LOGIN CRAM-MD5"}, "not PLAIN", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(passwordEnv, password)
			srv := startSMTP(t, tt.opts)
			err := smtpFor(srv, notify.TLSStartTLS).Notify(context.Background(), testMessage())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %v", err)
			}
			sess := srv.next(t)
			if (sess.authPass == password) != tt.wantTry || sess.mailFrom != "" {
				t.Errorf("session %+v", sess)
			}
		})
	}
}

func TestSMTPRejectsHeaderInjection(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*notify.SMTP)
		msg  func(*notify.Message)
		want string
	}{
		{"subject via app", nil, func(m *notify.Message) { m.App = "web\r\nBcc: evil@example.net" }, "subject contains a line break"},
		{"subject via color", nil, func(m *notify.Message) { m.ToColor = "green\nX-Evil: 1" }, "subject contains a line break"},
		{"from", func(s *notify.SMTP) { s.From = "cutover@example.com\r\nBcc: evil@example.net" }, nil, "smtp: From: address contains a line break"},
		{"to", func(s *notify.SMTP) { s.To = []string{"ops@example.com", "a@example.com\nBcc: evil@example.net"} }, nil, "smtp: To[1]: address contains a line break"},
		{"two addresses in one", func(s *notify.SMTP) { s.To = []string{"a@example.com, evil@example.net"} }, nil, "smtp: To[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, serverOptions{})
			cfg, m := smtpFor(srv, notify.TLSNone), testMessage()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			if tt.msg != nil {
				tt.msg(&m)
			}
			err := cfg.Notify(context.Background(), m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			select {
			case sess := <-srv.sessions:
				t.Errorf("connected anyway: %+v", sess)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

func TestSMTPValidate(t *testing.T) {
	t.Setenv(passwordEnv, password)
	t.Setenv("CUTOVER_TEST_EMPTY", "")
	ok := notify.SMTP{
		Host: "smtp.example.com", Username: "deployer", PasswordEnv: passwordEnv,
		From: "cutover@example.com", To: []string{"ops@example.com"},
	}
	tests := []struct {
		name string
		edit func(*notify.SMTP)
		want string // "" means valid
	}{
		{"ok", func(*notify.SMTP) {}, ""},
		{"no auth", func(s *notify.SMTP) { s.Username, s.PasswordEnv = "", "" }, ""},
		{"no host", func(s *notify.SMTP) { s.Host = "" }, "smtp: Host is required"},
		{"host with port", func(s *notify.SMTP) { s.Host = "smtp.example.com:587" }, `smtp: Host "smtp.example.com:587": give the port in Port`},
		{"host in brackets", func(s *notify.SMTP) { s.Host = "[::1]" }, `smtp: Host "[::1]" is not a host name or IP address`},
		{"IPv6 host", func(s *notify.SMTP) { s.Host = "::1" }, ""},
		{"bad port", func(s *notify.SMTP) { s.Port = 70000 }, "smtp: Port 70000"},
		{"bad mode", func(s *notify.SMTP) { s.TLS = "ssl" }, `smtp: TLS "ssl": want starttls, tls or none`},
		{"auth without TLS", func(s *notify.SMTP) { s.TLS = notify.TLSNone }, "smtp: Username is set but TLS is \"none\""},
		{"no password env", func(s *notify.SMTP) { s.PasswordEnv = "" }, "smtp: Username is set but PasswordEnv"},
		{"password env unset", func(s *notify.SMTP) { s.PasswordEnv = "CUTOVER_TEST_UNSET_VAR" }, "environment variable CUTOVER_TEST_UNSET_VAR is not set"},
		{"password env empty", func(s *notify.SMTP) { s.PasswordEnv = "CUTOVER_TEST_EMPTY" }, "CUTOVER_TEST_EMPTY is not set or empty"},
		{"env without user", func(s *notify.SMTP) { s.Username = "" }, "smtp: PasswordEnv is set but Username is empty"},
		{"no from", func(s *notify.SMTP) { s.From = "" }, "smtp: From: address is required"},
		{"bad from", func(s *notify.SMTP) { s.From = "not an address" }, "smtp: From: address \"not an address\""},
		{"no to", func(s *notify.SMTP) { s.To = nil }, "smtp: To needs at least one address"},
		{"empty to", func(s *notify.SMTP) { s.To = []string{"ops@example.com", ""} }, "smtp: To[1]: address is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), password):
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestSMTPHonorsContext(t *testing.T) {
	srv := startSMTP(t, serverOptions{Hang: true}) // accepts, never greets
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := smtpFor(srv, notify.TLSNone).Notify(ctx, testMessage())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}
}

func TestSMTPTimeout(t *testing.T) {
	srv := startSMTP(t, serverOptions{Hang: true})
	cfg := smtpFor(srv, notify.TLSNone)
	cfg.Timeout = 200 * time.Millisecond // applies under a ctx without deadline
	if err := cfg.Notify(context.Background(), testMessage()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestSMTPName(t *testing.T) {
	tests := []struct {
		cfg  notify.SMTP
		want string
	}{
		{notify.SMTP{Host: "smtp.example.com"}, "smtp smtp.example.com:587"},
		{notify.SMTP{Host: "smtp.example.com", TLS: notify.TLSImplicit}, "smtp smtp.example.com:465"},
		{notify.SMTP{Host: "smtp.example.com", TLS: notify.TLSNone}, "smtp smtp.example.com:25"},
		{notify.SMTP{Host: "::1", Port: 2525, Username: "u", PasswordEnv: "P"}, "smtp [::1]:2525"},
	}
	for _, tt := range tests {
		if got := tt.cfg.Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
	}
}

func TestSMTPFoldsLongSubjects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*notify.Message)
	}{
		{"long ASCII", func(m *notify.Message) {
			m.App, m.Namespace = strings.Repeat("a", 63), strings.Repeat("n", 63)
			m.FromColor = "" // no arrow: plain ASCII, not encoded
		}},
		{"non-ASCII", func(m *notify.Message) { m.App, m.ToColor = "café-ünïcödé-"+strings.Repeat("é", 30), "grün" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, serverOptions{NoStartTLS: true})
			m := testMessage()
			tt.edit(&m)
			if err := smtpFor(srv, notify.TLSNone).Notify(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			checkMail(t, srv.next(t).data, m) // lines within 78, subject unfolds and decodes back
		})
	}
}

func TestSMTPRecipientRejected(t *testing.T) {
	srv := startSMTP(t, serverOptions{NoStartTLS: true, RejectRcpt: "ana@example.com"})
	err := smtpFor(srv, notify.TLSNone).Notify(context.Background(), testMessage())
	want := fmt.Sprintf(`smtp 127.0.0.1:%d: rcpt to ana@example.com: 550 "5.1.1 no such user"`, srv.port)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if sess := srv.next(t); sess.data != "" {
		t.Errorf("sent DATA after a rejected recipient: %+v", sess)
	}
}

func TestSMTPLocalName(t *testing.T) {
	srv := startSMTP(t, serverOptions{NoStartTLS: true})
	cfg := smtpFor(srv, notify.TLSNone)
	cfg.LocalName = "ci-runner-7.example.com"
	if err := cfg.Notify(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if sess := srv.next(t); sess.ehlo != "ci-runner-7.example.com" {
		t.Errorf("EHLO %q", sess.ehlo)
	}
}

func TestSMTPVerifiesCertificate(t *testing.T) {
	tests := []struct {
		mode notify.TLSMode
		opts serverOptions
	}{
		{notify.TLSStartTLS, serverOptions{User: "deployer", Password: password}},
		{notify.TLSImplicit, serverOptions{Implicit: true, User: "deployer", Password: password}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Setenv(passwordEnv, password)
			srv := startSMTP(t, tt.opts)
			cfg := smtpFor(srv, tt.mode)
			cfg.TLSConfig = nil // the system roots do not trust the test certificate
			err := cfg.Notify(context.Background(), testMessage())
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("err = %v, want a certificate error", err)
			}
			if sess := srv.next(t); sess.authPass != "" || sess.mailFrom != "" {
				t.Errorf("went on with an untrusted server: %+v", sess)
			}
		})
	}
}
