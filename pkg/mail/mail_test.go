package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/notify"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert returns a server certificate for 127.0.0.1 and a pool trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// received is one message as the in-process SMTP server saw it.
type received struct {
	from, to  string
	data      string
	tlsAtMail bool
	authUser  string
}

type backend struct {
	user, pass string
	mu         sync.Mutex
	msgs       []received
	authTLS    []bool
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) { return &session{b: b, c: c}, nil }

type session struct {
	b    *backend
	c    *smtp.Conn
	cur  received
	user string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		_, tlsOn := s.c.TLSConnectionState()
		s.b.mu.Lock()
		s.b.authTLS = append(s.b.authTLS, tlsOn)
		s.b.mu.Unlock()
		if username != s.b.user || password != s.b.pass {
			return errors.New("invalid credentials")
		}
		s.user = username
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, tlsOn := s.c.TLSConnectionState()
	s.cur = received{from: from, tlsAtMail: tlsOn, authUser: s.user}
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.cur.to = to; return nil }
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = string(b)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}
func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// startSMTP runs go-smtp on a loopback port. With cert, STARTTLS is offered
// (or, implicit, TLS from the first byte). With user, AUTH PLAIN is required
// and offered only over TLS.
func startSMTP(t *testing.T, cert *tls.Certificate, implicit bool, user, pass string) (*backend, string) {
	t.Helper()
	be := &backend{user: user, pass: pass}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = false
	var l net.Listener
	var err error
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	if implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return be, l.Addr().String()
}

func notice(th notify.Threshold) Notice {
	return Notice{KeyID: "key_8fK2abc", KeyName: "ci-publish", Threshold: th,
		ExpiresAt: time.Date(2026, 12, 11, 9, 30, 0, 0, time.UTC)}
}

// TestSendSTARTTLSAuth: STARTTLS before AUTH, the password from the
// configuration (CODESYNC_SMTP_PASSWORD in the server), the notice arrives.
func TestSendSTARTTLSAuth(t *testing.T) {
	cert, pool := testCert(t)
	be, addr := startSMTP(t, &cert, false, "notices", "s3cret-pw")
	s, err := New(Config{URL: "smtp://notices@" + addr, Password: "s3cret-pw", From: "CodeSync <codesync@example.com>",
		TLS: &tls.Config{RootCAs: pool}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NoticeMessage("ann@example.com", notice(notify.Before14d))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.msgs) != 1 {
		t.Fatalf("%d messages", len(be.msgs))
	}
	got := be.msgs[0]
	if !got.tlsAtMail || len(be.authTLS) != 1 || !be.authTLS[0] || got.authUser != "notices" {
		t.Errorf("tls at MAIL %v, tls at AUTH %v, user %q", got.tlsAtMail, be.authTLS, got.authUser)
	}
	if got.from != "codesync@example.com" || got.to != "ann@example.com" {
		t.Errorf("envelope %s -> %s", got.from, got.to)
	}
	for _, want := range []string{
		"Subject: CodeSync API key \"ci-publish\" expires in 14 days\r\n",
		"Message-ID: <notice.key_8fK2abc.14d@example.com>\r\n",
		"Content-Type: text/plain; charset=utf-8\r\n",
		"To: <ann@example.com>\r\n",
		"key_8fK2abc", "ci-publish", "2026-12-11 09:30 UTC",
		"codesync-cli key rotate key_8fK2abc\r\n",
	} {
		if !strings.Contains(got.data, want) {
			t.Errorf("message lacks %q:\n%s", want, got.data)
		}
	}
}

// TestSendImplicitTLS: smtps:// speaks TLS from the first byte.
func TestSendImplicitTLS(t *testing.T) {
	cert, pool := testCert(t)
	be, addr := startSMTP(t, &cert, true, "notices", "pw")
	s, err := New(Config{URL: "smtps://notices@" + addr, Password: "pw", From: "codesync@example.com", TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), Message{To: "bob@example.com", Subject: "hi", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.msgs) != 1 || !be.msgs[0].tlsAtMail {
		t.Errorf("messages %+v", be.msgs)
	}
}

// TestSendNoTLSOffered: a relay without STARTTLS and without AUTH still gets
// the mail ("STARTTLS where offered"), unless TLS is required.
func TestSendNoTLSOffered(t *testing.T) {
	be, addr := startSMTP(t, nil, false, "", "")
	s, err := New(Config{URL: "smtp://" + addr, From: "codesync@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), Message{To: "bob@example.com", Subject: "hi", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if len(be.msgs) != 1 || be.msgs[0].tlsAtMail {
		t.Errorf("messages %+v", be.msgs)
	}
	s2, _ := New(Config{URL: "smtp://" + addr, From: "codesync@example.com", RequireTLS: true})
	if err := s2.Send(context.Background(), Message{To: "bob@example.com", Subject: "hi", Body: "x"}); err == nil {
		t.Error("sent without TLS although required")
	}
}

// TestSendFailuresKeepPassword: an untrusted certificate stops the send
// (no fallback to plain text), a wrong password fails, a server that does not
// offer AUTH fails; no error text holds the password.
func TestSendFailuresKeepPassword(t *testing.T) {
	cert, pool := testCert(t)
	_, addr := startSMTP(t, &cert, false, "notices", "right-pw")
	_, plainAddr := startSMTP(t, nil, false, "notices", "right-pw")
	const pw = "wrong-pw-XYZ"
	cases := map[string]Config{
		"untrusted certificate": {URL: "smtp://notices@" + addr, Password: "right-pw", From: "a@example.com"},
		"wrong password":        {URL: "smtp://notices@" + addr, Password: pw, From: "a@example.com", TLS: &tls.Config{RootCAs: pool}},
		"no AUTH without TLS":   {URL: "smtp://notices@" + plainAddr, Password: pw, From: "a@example.com"},
	}
	for name, cfg := range cases {
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), Message{To: "b@example.com", Subject: "s", Body: "b"})
		if err == nil {
			t.Errorf("%s: sent", name)
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "right-pw") {
			t.Errorf("%s: error holds the password: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestSendTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s, _ := New(Config{URL: "smtp://" + l.Addr().String(), From: "a@example.com", Timeout: 300 * time.Millisecond})
	start := time.Now()
	if err := s.Send(context.Background(), Message{To: "b@example.com", Subject: "s", Body: "b"}); err == nil {
		t.Error("sent")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout not applied: %s", d)
	}
}

func TestNewConfig(t *testing.T) {
	bad := []Config{
		{URL: "smtp://user:pw@mail.example.com:587", Password: "pw", From: "a@example.com"},
		{URL: "http://mail.example.com", From: "a@example.com"},
		{URL: "smtp://user@mail.example.com:587", From: "a@example.com"}, // user, no password
		{URL: "smtp://mail.example.com:587"},                             // no from
		{URL: "smtp://mail.example.com:587", From: "not an address"},
		{URL: "smtp://mail.example.com:99999", From: "a@example.com"},
		{URL: "smtp:///", From: "a@example.com"},
	}
	for _, c := range bad {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		} else if strings.Contains(err.Error(), ":pw@") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	s, err := New(Config{URL: "smtp://user@mail.example.com", Password: "pw", From: "a@example.com"})
	if err != nil || s.port != "587" || s.user != "user" {
		t.Errorf("defaults: %+v %v", s, err)
	}
}

func TestRenderNotice(t *testing.T) {
	for _, c := range []struct {
		th      notify.Threshold
		subject string
		has     []string
	}{
		{notify.Before14d, `CodeSync API key "ci-publish" expires in 14 days`, []string{"expires in 14 days", "codesync-cli key rotate key_8fK2abc"}},
		{notify.Before3d, `CodeSync API key "ci-publish" expires in 3 days`, []string{"expires in 3 days", "codesync-cli key rotate key_8fK2abc"}},
		{notify.Expired, `CodeSync API key "ci-publish" has expired`, []string{"has expired", "no longer works", "codesync-cli key rotate key_8fK2abc", "codesync-cli key create ci-publish"}},
	} {
		subject, body, err := RenderNotice(notice(c.th))
		if err != nil {
			t.Fatal(err)
		}
		if subject != c.subject {
			t.Errorf("%s: subject %q", c.th, subject)
		}
		for _, want := range append(c.has, "key_8fK2abc", "ci-publish", "2026-12-11 09:30 UTC") {
			if !strings.Contains(body, want) {
				t.Errorf("%s: body lacks %q:\n%s", c.th, want, body)
			}
		}
	}
	n := notice(notify.Before3d)
	n.Server = "https://codesync.example.com"
	_, body, _ := RenderNotice(n)
	if !strings.Contains(body, "codesync-cli key rotate key_8fK2abc --server https://codesync.example.com") {
		t.Errorf("server flag missing:\n%s", body)
	}
	n.KeyName = "evil\r\nBcc: x@example.com"
	if _, _, err := RenderNotice(n); err == nil {
		t.Error("line break in key name accepted")
	}
	if _, _, err := RenderNotice(Notice{Threshold: "7d"}); err == nil {
		t.Error("unknown threshold accepted")
	}
}
