package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how an SMTP connection is protected.
type TLSMode string

// TLS modes.
const (
	// TLSStartTLS (the default) connects in plain text and upgrades with
	// STARTTLS before anything else; a server that does not offer it fails
	// the send. Default port 587.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS). Default port 465.
	TLSImplicit TLSMode = "tls"
	// TLSNone never encrypts; it allows no authentication. Default port 25.
	TLSNone TLSMode = "none"
)

// SMTP mails a Message as text/plain to To.
type SMTP struct {
	Host string
	Port int     // default by TLS: 587, 465 or 25
	TLS  TLSMode // default TLSStartTLS
	// Username, when set, authenticates with AUTH PLAIN, over TLS only.
	Username string
	// PasswordEnv names the environment variable that holds the password;
	// the password itself is never part of the configuration.
	PasswordEnv string
	From        string   // "Name <addr>" or "addr"
	To          []string // same forms
	// LocalName is sent with EHLO; default "localhost".
	LocalName string
	// TLSConfig overrides the TLS settings (tests: RootCAs); its ServerName
	// defaults to Host.
	TLSConfig *tls.Config
	Timeout   time.Duration // the whole send; default DefaultTimeout
}

// Name is "smtp host:port".
func (s SMTP) Name() string {
	return "smtp " + s.addr()
}

func (s SMTP) addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.port()))
}

func (s SMTP) mode() TLSMode {
	if s.TLS == "" {
		return TLSStartTLS
	}
	return s.TLS
}

func (s SMTP) port() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.mode() == TLSImplicit:
		return 465
	case s.mode() == TLSNone:
		return 25
	default:
		return 587
	}
}

// Validate checks the configuration, including that the password variable
// is set, without connecting.
func (s SMTP) Validate() error {
	if err := s.validateServer(); err != nil {
		return err
	}
	if err := s.validateAuth(); err != nil {
		return err
	}
	return s.validateAddresses()
}

func (s SMTP) validateServer() error {
	switch {
	case s.Host == "":
		return errors.New("smtp: Host is required")
	case strings.ContainsAny(s.Host, " \t\r\n/[]@"):
		return fmt.Errorf("smtp: Host %q is not a host name or IP address", s.Host)
	case strings.Contains(s.Host, ":") && net.ParseIP(s.Host) == nil:
		return fmt.Errorf("smtp: Host %q: give the port in Port", s.Host)
	case s.Port < 0 || s.Port > 65535:
		return fmt.Errorf("smtp: Port %d is out of range 1-65535", s.Port)
	}
	switch s.mode() {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("smtp: TLS %q: want %s, %s or %s", s.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if hasControl(s.LocalName) {
		return errors.New("smtp: LocalName contains a line break or control character")
	}
	return nil
}

func (s SMTP) validateAuth() error {
	switch {
	case s.Username == "" && s.PasswordEnv != "":
		return errors.New("smtp: PasswordEnv is set but Username is empty")
	case s.Username == "":
		return nil
	case hasControl(s.Username):
		return errors.New("smtp: Username contains a line break or control character")
	case s.mode() == TLSNone:
		return fmt.Errorf("smtp: Username is set but TLS is %q: credentials need TLS %s or %s", TLSNone, TLSStartTLS, TLSImplicit)
	case s.PasswordEnv == "":
		return errors.New("smtp: Username is set but PasswordEnv (the variable holding the password) is empty")
	}
	if v, ok := os.LookupEnv(s.PasswordEnv); !ok || v == "" {
		return fmt.Errorf("smtp: PasswordEnv: environment variable %s is not set or empty", s.PasswordEnv)
	}
	return nil
}

func (s SMTP) validateAddresses() error {
	if _, err := parseAddress(s.From); err != nil {
		return fmt.Errorf("smtp: From: %w", err)
	}
	if len(s.To) == 0 {
		return errors.New("smtp: To needs at least one address")
	}
	for i, to := range s.To {
		if _, err := parseAddress(to); err != nil {
			return fmt.Errorf("smtp: To[%d]: %w", i, err)
		}
	}
	return nil
}

// Notify mails m.
func (s SMTP) Notify(ctx context.Context, m Message) error {
	if err := s.Validate(); err != nil {
		return err
	}
	mm, err := s.compose(m, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(s.Timeout))
	defer cancel()
	if err := s.send(ctx, mm); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	return nil
}

// send delivers mm in one SMTP session, which ends when ctx does.
func (s SMTP) send(ctx context.Context, mm *mailMessage) error {
	conn, err := s.dial(ctx)
	if err != nil {
		return withCtx(ctx, fmt.Errorf("connect: %w", err))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return withCtx(ctx, fmt.Errorf("greeting: %w", err))
	}
	defer c.Close()
	if err := s.session(c, mm); err != nil {
		return withCtx(ctx, err)
	}
	return nil
}

func (s SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	if s.mode() == TLSImplicit {
		td := &tls.Dialer{NetDialer: d, Config: s.tlsConfig()}
		return td.DialContext(ctx, "tcp", s.addr())
	}
	return d.DialContext(ctx, "tcp", s.addr())
}

func (s SMTP) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.Host
	}
	return cfg
}

// session runs EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA and QUIT.
func (s SMTP) session(c *smtp.Client, mm *mailMessage) error {
	if err := c.Hello(s.localName()); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if err := s.startTLS(c); err != nil {
		return err
	}
	if err := s.auth(c); err != nil {
		return err
	}
	if err := deliver(c, mm); err != nil {
		return err
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("quit: %w", err)
	}
	return nil
}

func (s SMTP) localName() string {
	if s.LocalName == "" {
		return "localhost"
	}
	return s.LocalName
}

func (s SMTP) startTLS(c *smtp.Client) error {
	if s.mode() != TLSStartTLS {
		return nil
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return errors.New("server does not offer STARTTLS, which TLS mode starttls requires")
	}
	if err := c.StartTLS(s.tlsConfig()); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	return nil
}

// auth authenticates with PLAIN; net/smtp refuses it without TLS, and so
// does Validate.
func (s SMTP) auth(c *smtp.Client) error {
	if s.Username == "" {
		return nil
	}
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return errors.New("server offers no AUTH, but Username is set")
	}
	if !strings.Contains(" "+strings.ToUpper(mechs)+" ", " PLAIN ") {
		return fmt.Errorf("server offers AUTH %s, not PLAIN", mechs)
	}
	password := os.Getenv(s.PasswordEnv)
	if err := c.Auth(smtp.PlainAuth("", s.Username, password, s.Host)); err != nil {
		return fmt.Errorf("auth as %s: %w", s.Username, err)
	}
	return nil
}

func deliver(c *smtp.Client, mm *mailMessage) error {
	if err := c.Mail(mm.from); err != nil {
		return fmt.Errorf("mail from %s: %w", mm.from, err)
	}
	for _, to := range mm.to {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("rcpt to %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(mm.data); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// withCtx adds ctx's error to err once ctx is done, so that a deadline
// cut short by the connection's deadline still matches
// context.DeadlineExceeded.
func withCtx(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("%w (%w)", err, context.Cause(ctx))
}
