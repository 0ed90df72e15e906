package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// mailMessage is an envelope and an RFC 5322 message.
type mailMessage struct {
	from string   // envelope sender, a bare address
	to   []string // envelope recipients, bare addresses
	data []byte   // headers and body, CRLF line ends
}

// compose builds the mail for m. It fails rather than let a line break
// into a header.
func (s SMTP) compose(m Message, now time.Time) (*mailMessage, error) {
	subject := m.Subject()
	if hasControl(subject) {
		return nil, errors.New("subject contains a line break or control character")
	}
	from, err := parseAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	mm := &mailMessage{from: from.Address}
	var toHeader []string
	for i, raw := range s.To {
		to, err := parseAddress(raw)
		if err != nil {
			return nil, fmt.Errorf("to[%d]: %w", i, err)
		}
		mm.to = append(mm.to, to.Address)
		toHeader = append(toHeader, to.String())
	}
	id, err := messageID(from.Address, now)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	header(&b, "Date", now.Format(time.RFC1123Z))
	header(&b, "From", from.String())
	header(&b, "To", strings.Join(toHeader, ", "))
	header(&b, "Subject", encodeSubject(subject))
	header(&b, "Message-ID", id)
	header(&b, "MIME-Version", "1.0")
	header(&b, "Content-Type", "text/plain; charset=utf-8")
	header(&b, "Content-Transfer-Encoding", "quoted-printable")
	header(&b, "Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	b.WriteString("\r\n")
	if err := writeQP(&b, m.Text()); err != nil {
		return nil, err
	}
	mm.data = b.Bytes()
	return mm, nil
}

// maxLine is the line length RFC 5322 recommends.
const maxLine = 78

// encodeSubject encodes a non-ASCII subject as RFC 2047 encoded words,
// which header folds between.
func encodeSubject(s string) string {
	return mime.QEncoding.Encode("utf-8", s)
}

// header writes "Name: value", folded at spaces so that lines stay within
// maxLine characters where the words allow; unfolding restores the value.
func header(b *bytes.Buffer, name, value string) {
	b.WriteString(name + ":")
	col := len(name) + 1
	for _, w := range strings.Split(value, " ") {
		if col+1+len(w) > maxLine && col > 0 {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteString(" " + w)
		col += 1 + len(w)
	}
	b.WriteString("\r\n")
}

// writeQP writes text quoted-printable, with CRLF line ends.
func writeQP(b *bytes.Buffer, text string) error {
	w := quotedprintable.NewWriter(b)
	if _, err := w.Write([]byte(text)); err != nil {
		return fmt.Errorf("encode body: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encode body: %w", err)
	}
	return nil
}

// parseAddress parses one "Name <addr>" or "addr", refusing line breaks
// and control characters first.
func parseAddress(s string) (*mail.Address, error) {
	if s == "" {
		return nil, errors.New("address is required")
	}
	if hasControl(s) {
		return nil, errors.New("address contains a line break or control character")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	return a, nil
}

// messageID is "<random.unixnano@domain>", domain from the sender.
func messageID(from string, now time.Time) (string, error) {
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	domain := "cutover.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	return fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(r[:]), now.UnixNano(), domain), nil
}

// hasControl reports line breaks and other control characters; tab is
// allowed.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return r < ' ' && r != '\t' || r == 0x7f
	})
}
