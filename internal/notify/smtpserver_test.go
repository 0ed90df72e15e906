package notify_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testinfra/selfsigned"
)

// A minimal SMTP server for the tests: EHLO, STARTTLS, AUTH PLAIN, MAIL,
// RCPT, DATA, RSET, NOOP, QUIT, over a real TCP connection and real TLS.

// serverOptions configure a test SMTP server.
type serverOptions struct {
	Implicit   bool   // TLS from the first byte
	NoStartTLS bool   // do not offer STARTTLS
	User       string // offer AUTH after TLS and accept this user...
	Password   string // ...with this password
	AuthMechs  string // default "LOGIN PLAIN"
	Hang       bool   // accept and never answer
	RejectRcpt string // answer RCPT TO this address with 550
}

// session is what one connection did.
type session struct {
	ehlo          string
	startTLS      bool // upgraded with STARTTLS
	tls           bool // encrypted at the end
	authIdentity  string
	authUser      string
	authPass      string
	authenticated bool
	mailFrom      string
	rcptTo        []string
	data          string // as read by ReadDotBytes: LF line ends
	quit          bool
	err           string
}

type smtpServer struct {
	host     string
	port     int
	opts     serverOptions
	cert     tls.Certificate
	roots    *x509.CertPool // trusts cert
	sessions chan session
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startSMTP(t *testing.T, opts serverOptions) *smtpServer {
	t.Helper()
	cert, roots := selfsigned.New(t, "cutover test SMTP")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{
		host: "127.0.0.1", port: ln.Addr().(*net.TCPAddr).Port,
		opts: opts, cert: cert, roots: roots, ln: ln,
		sessions: make(chan session, 16),
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *smtpServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *smtpServer) tlsServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
}

// clientTLS trusts the server's certificate only.
func (s *smtpServer) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// next returns the next finished session.
func (s *smtpServer) next(t *testing.T) session {
	t.Helper()
	select {
	case sess := <-s.sessions:
		return sess
	case <-time.After(5 * time.Second):
		t.Fatal("no SMTP session finished within 5s")
		return session{}
	}
}

func (s *smtpServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			select { // never block Cleanup: a test reads the sessions it wants
			case s.sessions <- s.handle(conn):
			default:
			}
		}()
	}
}

func (s *smtpServer) handle(conn net.Conn) (sess session) {
	defer conn.Close()
	if s.opts.Hang {
		_, _ = io.Copy(io.Discard, conn)
		return sess
	}
	if s.opts.Implicit {
		conn = tls.Server(conn, s.tlsServerConfig())
		sess.tls = true
	}
	tp := textproto.NewConn(conn)
	reply(tp, "220 test ESMTP ready")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return sess
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			sess.ehlo = arg
			s.ehlo(tp, sess.tls)
		case "STARTTLS":
			upgraded, ok := s.startTLS(tp, conn, &sess)
			if !ok {
				return sess
			}
			if upgraded != nil {
				conn, tp = upgraded, textproto.NewConn(upgraded)
			}
		case "AUTH":
			s.auth(tp, &sess, arg)
		case "MAIL":
			sess.mailFrom = angle(arg)
			reply(tp, "250 ok")
		case "RCPT":
			if angle(arg) == s.opts.RejectRcpt {
				reply(tp, "550 5.1.1 no such user")
				continue
			}
			sess.rcptTo = append(sess.rcptTo, angle(arg))
			reply(tp, "250 ok")
		case "DATA":
			reply(tp, "354 end with .")
			b, err := tp.ReadDotBytes()
			if err != nil {
				sess.err = err.Error()
				return sess
			}
			sess.data = string(b)
			reply(tp, "250 queued")
		case "QUIT":
			sess.quit = true
			reply(tp, "221 bye")
			return sess
		case "RSET", "NOOP":
			reply(tp, "250 ok")
		default:
			reply(tp, "502 not implemented")
		}
	}
}

func reply(tp *textproto.Conn, line string) {
	_ = tp.PrintfLine("%s", line)
}

func (s *smtpServer) ehlo(tp *textproto.Conn, encrypted bool) {
	lines := []string{"test greets you", "8BITMIME"}
	if !s.opts.NoStartTLS && !encrypted {
		lines = append(lines, "STARTTLS")
	}
	if s.opts.User != "" && encrypted {
		mechs := s.opts.AuthMechs
		if mechs == "" {
			mechs = "LOGIN PLAIN"
		}
		lines = append(lines, "AUTH "+mechs)
	}
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		reply(tp, "250"+sep+l)
	}
}

// startTLS upgrades conn; ok is false when the connection must end.
func (s *smtpServer) startTLS(tp *textproto.Conn, conn net.Conn, sess *session) (upgraded net.Conn, ok bool) {
	if s.opts.NoStartTLS || sess.tls {
		reply(tp, "502 STARTTLS not available")
		return nil, true
	}
	reply(tp, "220 go ahead")
	tc := tls.Server(conn, s.tlsServerConfig())
	if err := tc.Handshake(); err != nil {
		sess.err = "handshake: " + err.Error()
		return nil, false
	}
	sess.tls, sess.startTLS, sess.ehlo = true, true, "" // RFC 3207: state resets
	return tc, true
}

func (s *smtpServer) auth(tp *textproto.Conn, sess *session, arg string) {
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") || !sess.tls || s.opts.User == "" {
		reply(tp, "504 unsupported")
		return
	}
	if initial == "" {
		reply(tp, "334 ")
		initial, _ = tp.ReadLine()
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 {
		reply(tp, "501 malformed")
		return
	}
	sess.authIdentity, sess.authUser, sess.authPass = parts[0], parts[1], parts[2]
	if parts[1] != s.opts.User || parts[2] != s.opts.Password {
		reply(tp, "535 5.7.8 authentication credentials invalid")
		return
	}
	sess.authenticated = true
	reply(tp, "235 2.7.0 authenticated")
}

// angle returns what is between < and > in "FROM:<a@b> BODY=8BITMIME".
func angle(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}
