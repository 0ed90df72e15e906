package config

import (
	"net/mail"
)

func (v *validator) approval(path string, a *Approval) {
	v.oneOf(field(path, "mode"), a.Mode, approvals)
	v.positive(field(path, "timeout"), a.Timeout)
	if a.Mode != ApprovalManual {
		if a.Timeout != nil {
			v.failf(field(path, "timeout"), "applies to mode manual only")
		}
		if a.Notify.Webhook != nil || a.Notify.SMTP != nil {
			v.failf(field(path, "notify"), "applies to mode manual only")
		}
	}
	if a.Notify.Webhook != nil {
		v.webhook(field(path, "notify.webhook"), a.Notify.Webhook)
	}
	if a.Notify.SMTP != nil {
		v.smtp(field(path, "notify.smtp"), a.Notify.SMTP)
	}
}

func (v *validator) webhook(path string, w *Webhook) {
	switch {
	case (w.URL == "") == (w.URLEnv == ""):
		v.failf(path, "want exactly one of url and urlEnv")
	case w.URL != "":
		v.httpURL(field(path, "url"), w.URL)
	default:
		v.varName(field(path, "urlEnv"), w.URLEnv)
	}
	v.headers(field(path, "headers"), w.Headers)
	v.headers(field(path, "headersEnv"), w.HeadersEnv)
	for _, name := range sortedKeys(w.HeadersEnv) {
		v.varName(field(field(path, "headersEnv"), name), w.HeadersEnv[name])
		if _, dup := w.Headers[name]; dup {
			v.failf(field(field(path, "headersEnv"), name), "header also in headers")
		}
	}
}

func (v *validator) smtp(path string, s *SMTP) {
	v.required(field(path, "host"), s.Host)
	if s.Port != nil && (*s.Port < 1 || *s.Port > 65535) {
		v.failf(field(path, "port"), "want a port number (1 to 65535), got %d", *s.Port)
	}
	v.oneOf(field(path, "tls"), s.TLS, tlsModes)
	v.smtpAuth(path, s)
	if v.required(field(path, "from"), s.From) {
		v.address(field(path, "from"), s.From)
	}
	if len(s.To) == 0 {
		v.failf(field(path, "to"), "want at least one address")
	}
	for i, to := range s.To {
		v.address(index(field(path, "to"), i), to)
	}
}

// smtpAuth checks that username and passwordEnv come together, and never
// over a connection without TLS.
func (v *validator) smtpAuth(path string, s *SMTP) {
	switch {
	case s.Username == "" && s.PasswordEnv == "":
		return
	case s.Username == "":
		v.failf(field(path, "username"), "required with passwordEnv")
	case s.PasswordEnv == "":
		v.failf(field(path, "passwordEnv"), "required with username")
	default:
		v.varName(field(path, "passwordEnv"), s.PasswordEnv)
	}
	if s.TLS == TLSNone {
		v.failf(field(path, "tls"), "none would send the password in clear: use starttls or tls")
	}
}

func (v *validator) address(path, s string) {
	if _, err := mail.ParseAddress(s); err != nil {
		v.failf(path, "invalid address %q: %w", s, err)
	}
}
