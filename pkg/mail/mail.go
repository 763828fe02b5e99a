// Package mail sends the server's notices by SMTP: smtp://user@host:port
// (STARTTLS whenever the server offers it, required before authenticating)
// or smtps://user@host:port (TLS from the first byte). The password is never
// in the URL: the server reads it from its environment (Config.PasswordEnv
// names the variable, for messages) and passes it in Config.Password.
package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures a Sender.
type Config struct {
	// URL is smtp://[user@]host[:port] (default port 587) or
	// smtps://[user@]host[:port] (default 465). A password in the URL is
	// refused: it would show in process lists and config files.
	URL string
	// Password for the URL's user, from the environment.
	Password string
	// PasswordEnv names the variable the password comes from, for error
	// messages (default "the SMTP password variable").
	PasswordEnv string
	// From is the sender address (--smtp-from).
	From string
	// TLS configures STARTTLS and smtps (nil: system roots, ServerName from
	// the URL).
	TLS *tls.Config
	// RequireTLS refuses to send over a connection without TLS even without
	// authentication. With a user, TLS is always required, except to a
	// loopback host (net/smtp's PLAIN rule).
	RequireTLS bool
	// Timeout bounds one message end to end (default 30 s).
	Timeout time.Duration
	// LocalName is the name sent in EHLO (default "localhost").
	LocalName string
}

// Sender sends messages through one SMTP server.
type Sender struct {
	host, port, user string
	implicitTLS      bool
	cfg              Config
	from             *mail.Address
}

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("mail: bad SMTP configuration")

// New checks cfg and returns a Sender. It does not connect.
func New(cfg Config) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: --smtp-url is not a URL", ErrConfig)
	}
	s := &Sender{cfg: cfg}
	pwVar := cfg.PasswordEnv
	if pwVar == "" {
		pwVar = "the SMTP password variable"
	}
	switch u.Scheme {
	case "smtp":
		s.port = "587"
	case "smtps":
		s.port, s.implicitTLS = "465", true
	default:
		return nil, fmt.Errorf("%w: --smtp-url must be smtp://user@host:port or smtps://…", ErrConfig)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return nil, fmt.Errorf("%w: no password in --smtp-url; set %s", ErrConfig, pwVar)
		}
		s.user = u.User.Username()
	}
	s.host = u.Hostname()
	if s.host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("%w: --smtp-url must be smtp://user@host:port", ErrConfig)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: bad port in --smtp-url", ErrConfig)
		}
		s.port = p
	}
	if s.user != "" && cfg.Password == "" {
		return nil, fmt.Errorf("%w: --smtp-url names user %q but %s is empty", ErrConfig, s.user, pwVar)
	}
	if cfg.From == "" {
		return nil, fmt.Errorf("%w: --smtp-from is required", ErrConfig)
	}
	s.from, err = mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("%w: --smtp-from %q is not an address", ErrConfig, cfg.From)
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = 30 * time.Second
	}
	if s.cfg.LocalName == "" {
		s.cfg.LocalName = "localhost"
	}
	return s, nil
}

// Message is one plain-text e-mail.
type Message struct {
	To        string // one recipient address
	Subject   string
	Body      string // plain text, LF line ends
	MessageID string // stable for a notice, so a re-sent notice can be recognised; generated when empty
	Date      time.Time
}

// Send delivers m. Errors name the SMTP step and never the password.
func (s *Sender) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: recipient %q is not an address", m.To)
	}
	raw, err := s.compose(to, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.host, s.port)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: connect %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.implicitTLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("mail: TLS with %s: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail: greeting from %s: %w", addr, err)
	}
	defer c.Close()
	if err := s.session(c, to, raw); err != nil {
		return fmt.Errorf("mail: %s: %w", addr, err)
	}
	return nil
}

func (s *Sender) tlsConfig() *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLS != nil {
		tc = s.cfg.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = s.host
	}
	return tc
}

func (s *Sender) session(c *smtp.Client, to *mail.Address, raw []byte) error {
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	_, isTLS := c.TLSConnectionState()
	if !isTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
			isTLS = true
		} else if s.cfg.RequireTLS {
			return errors.New("the server does not offer STARTTLS and TLS is required")
		}
	}
	if s.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not offer AUTH")
		}
		// PlainAuth itself refuses to send the password without TLS, except
		// to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.user, s.cfg.Password, s.host)); err != nil {
			return fmt.Errorf("AUTH as %s: %w", s.user, scrub(err, s.cfg.Password))
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// scrub removes the password from an error text, should a server echo it.
func scrub(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

// compose builds the RFC 5322 message: CRLF line ends, UTF-8 quoted-printable
// free plain text (8bit), encoded subject, no header injection.
func (s *Sender) compose(to *mail.Address, m Message) ([]byte, error) {
	if strings.ContainsAny(m.Subject, "\r\n") || strings.ContainsAny(m.MessageID, "\r\n<> ") {
		return nil, errors.New("mail: line break in subject or message id")
	}
	id := m.MessageID
	if id == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	domain := "codesync.invalid"
	if _, d, ok := strings.Cut(s.from.Address, "@"); ok {
		domain = d
	}
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", s.from.String())
	hdr("To", to.String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", date.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+id+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	for _, line := range strings.Split(body, "\n") {
		b.WriteString(line + "\r\n")
	}
	return []byte(b.String()), nil
}
