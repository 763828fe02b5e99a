// Package api is the typed client of the CodeSync HTTP API: the https-or-loopback
// rule, retries with backoff, error decoding, and a --debug trace with every
// secret redacted.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/redact"
)

// CredentialExpiresHeader carries the expiry of the credential that
// authenticated the request, so the CLI can warn before it runs out.
const CredentialExpiresHeader = "CodeSync-Credential-Expires"

// CredentialExpiry is what the server says about the expiry of the API key
// that authenticated a request.
type CredentialExpiry struct {
	Prefix    string // the token's displayable start
	ID, Name  string // the key's ID and name ("" from an older server)
	ExpiresAt time.Time
}

// TokenSource yields the bearer credential for a request.
type TokenSource func(ctx context.Context) (string, error)

// RetryPolicy bounds retries of idempotent requests.
type RetryPolicy struct {
	MaxAttempts int           // including the first
	BaseDelay   time.Duration // first backoff; doubles each time, with jitter
	MaxDelay    time.Duration // cap on one backoff
	MaxTotal    time.Duration // cap on all attempts and waits together
}

// DefaultRetry is what the CLI uses.
var DefaultRetry = RetryPolicy{MaxAttempts: 4, BaseDelay: 300 * time.Millisecond, MaxDelay: 5 * time.Second, MaxTotal: 60 * time.Second}

// Options configure a Client.
type Options struct {
	BaseURL    string
	HTTPClient *http.Client // its Transport is used; redirects are handled here
	UserAgent  string
	Token      TokenSource // nil: anonymous
	// Reauth is called once when the server answers 401 invalid_token to a
	// request sent with the token rejected; a new token (a refreshed session)
	// is sent in a single retry. "" means there is nothing better to send.
	Reauth  func(ctx context.Context, rejected string) (string, error)
	Timeout time.Duration
	Retry   RetryPolicy
	Debug   io.Writer // nil: no trace
	// OnCredentialExpiry is called with the expiry the server reports for the
	// credential in use: its key ID and name, and the token's displayable prefix.
	OnCredentialExpiry func(CredentialExpiry)
}

// Client talks to one CodeSync server.
type Client struct {
	base *url.URL
	opts Options
	http *http.Client
}

// New validates the base URL and builds a client.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &URLError{URL: o.BaseURL}
	}
	if o.Retry.MaxAttempts == 0 {
		o.Retry = DefaultRetry
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	hc := &http.Client{Transport: http.DefaultTransport}
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		hc.Transport = o.HTTPClient.Transport
	}
	c := &Client{base: u, opts: o}
	hc.CheckRedirect = c.checkRedirect
	c.http = hc
	return c, nil
}

// URLError is a server URL that cannot be used at all.
type URLError struct{ URL string }

func (e *URLError) Error() string {
	return fmt.Sprintf("invalid server URL %q: use https://HOST[:PORT]", e.URL)
}

// BaseURL returns the server's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Secure reports whether credentials may be sent to the server.
func (c *Client) Secure() bool { return SecureURL(c.base) }

// SecureURL: https, or http to a loopback host.
func SecureURL(u *url.URL) bool {
	if u.Scheme == "https" {
		return true
	}
	if u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	// A redirect to another host never carries the Authorization header.
	if req.URL.Host != via[0].URL.Host || !SecureURL(req.URL) {
		req.Header.Del("Authorization")
	}
	return nil
}

// Request describes one API call.
type Request struct {
	Method         string
	Path           string // below the base URL, e.g. /v1/keys
	Query          url.Values
	Body           any // JSON-encoded when not nil
	Form           url.Values
	IdempotencyKey string
	Anonymous      bool // send no credential even if one is configured
	Accept         string
}

// NewIdempotencyKey returns a random key for a retried non-idempotent request.
func NewIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Do sends r and decodes a 2xx JSON answer into out (when not nil).
func (c *Client) Do(ctx context.Context, r Request, out any) error {
	resp, err := c.Stream(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return &TransportError{Err: fmt.Errorf("reading the answer of %s: %w", c.base.Host, err)}
	}
	c.traceBody("<", resp.Header.Get("Content-Type"), data)
	if err := json.Unmarshal(data, out); err != nil {
		return &TransportError{Err: fmt.Errorf("the server at %s sent a %w (not the JSON expected)", c.base.Host, ErrMalformed)}
	}
	return nil
}

// invalidToken: a 401 that names invalid_token in WWW-Authenticate (RFC
// 6750 §3.1), or any 401 without another error code in that header.
func invalidToken(resp *http.Response) bool {
	h := resp.Header.Get("WWW-Authenticate")
	return !strings.Contains(h, "error=") || strings.Contains(h, `error="invalid_token"`)
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusBadGateway ||
		code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// Stream sends r and returns the 2xx response with its body unread; the caller
// closes it. Errors are *HTTPError, *TransportError or *InsecureURLError.
func (c *Client) Stream(ctx context.Context, r Request) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + r.Path
	if len(r.Query) > 0 {
		u.RawQuery = r.Query.Encode()
	}
	var body []byte
	contentType := ""
	switch {
	case r.Body != nil:
		b, err := json.Marshal(r.Body)
		if err != nil {
			return nil, err
		}
		body, contentType = b, "application/json"
	case r.Form != nil:
		body, contentType = []byte(r.Form.Encode()), "application/x-www-form-urlencoded"
	}
	token := ""
	if c.opts.Token != nil && !r.Anonymous {
		if !c.Secure() {
			return nil, &InsecureURLError{URL: c.base.String()}
		}
		t, err := c.opts.Token(ctx)
		if err != nil {
			return nil, err
		}
		token = t
	}
	canRetry := idempotent(r.Method) || r.IdempotencyKey != ""
	start := time.Now()
	deadline := start.Add(c.opts.Retry.MaxTotal)
	reauthed := false
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, r, &u, body, contentType, token)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, &TransportError{Err: fmt.Errorf("request to %s cancelled: %w", c.base.Host, ctx.Err())}
			}
			if tlsProblem(err) != "" {
				// a certificate problem is not transient: no retry
				return nil, &TransportError{Err: describeNetError(c.base.Host, err)}
			}
			if msg := c.probeTLS(ctx); msg != "" {
				return nil, &TransportError{Err: fmt.Errorf("TLS with %s failed: %s", c.base.Host, msg)}
			}
			err = &TransportError{Err: describeNetError(c.base.Host, err)}
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			c.noteExpiry(resp, token)
			return resp, nil
		case resp.StatusCode == http.StatusUnauthorized && token != "" && !reauthed && c.opts.Reauth != nil && invalidToken(resp):
			// the token was refused (revoked, or expired with no expiry
			// known): refresh the session once and send the request again;
			// a refused credential means the request had no effect
			reauthed = true
			err = c.decodeError(resp)
			nt, rerr := c.opts.Reauth(ctx, token)
			if rerr != nil {
				return nil, rerr
			}
			if nt == "" || nt == token {
				return nil, err
			}
			if c.opts.Debug != nil {
				fmt.Fprintln(c.opts.Debug, "* the access token was refused: refreshed the session, sending the request again")
			}
			token = nt
			attempt--
			continue
		default:
			err = c.decodeError(resp)
			if !retryableStatus(resp.StatusCode) {
				return nil, err
			}
			var he *HTTPError
			if errors.As(err, &he) {
				wait = he.RetryAfter
			}
		}
		if !canRetry || attempt >= c.opts.Retry.MaxAttempts {
			return nil, finalError(err)
		}
		if wait == 0 {
			wait = c.backoff(attempt)
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, finalError(err)
		}
		if c.opts.Debug != nil {
			fmt.Fprintf(c.opts.Debug, "* retrying in %s (attempt %d of %d)\n", wait.Round(time.Millisecond), attempt+1, c.opts.Retry.MaxAttempts)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &TransportError{Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// finalError turns a 5xx that outlived its retries into exit 9's error.
func finalError(err error) error {
	var he *HTTPError
	if errors.As(err, &he) && he.Status >= 500 {
		return &TransportError{Err: fmt.Errorf("the server answered %d %s: %s", he.Status, http.StatusText(he.Status), he.Error())}
	}
	return err
}

func (c *Client) backoff(attempt int) time.Duration {
	d := float64(c.opts.Retry.BaseDelay) * math.Pow(2, float64(attempt-1))
	if d > float64(c.opts.Retry.MaxDelay) {
		d = float64(c.opts.Retry.MaxDelay)
	}
	// full jitter between half and all of d
	return time.Duration(d/2 + mrand.Float64()*d/2)
}

func describeNetError(host string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the server at %s did not answer in time", host)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fmt.Errorf("cannot reach the server at %s (connection refused or no route)", host)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("the connection to %s closed before an answer arrived", host)
	}
	if msg := tlsProblem(err); msg != "" {
		return fmt.Errorf("TLS with %s failed: %s", host, msg)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot talk to the server at %s: %s", host, redact.String(err.Error()))
}

// probeTLS explains a failed https request whose error hides the cause. With
// TLS 1.3 the server checks the client certificate after the handshake, so
// the client sees a reset or an HTTP/2 failure instead of the alert; a fresh
// connection that only reads receives the alert itself.
func (c *Client) probeTLS(ctx context.Context) string {
	if c.base.Scheme != "https" {
		return ""
	}
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok {
		return ""
	}
	cfg := &tls.Config{}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.ServerName = c.base.Hostname()
	cfg.NextProtos = []string{"http/1.1"}
	host := c.base.Host
	if c.base.Port() == "" {
		host = net.JoinHostPort(c.base.Hostname(), "443")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: cfg}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := d.DialContext(pctx, "tcp", host)
	if err != nil {
		return tlsProblem(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err = conn.Read(make([]byte, 1))
	if err != nil {
		return tlsProblem(err)
	}
	return ""
}

// tlsProblem names the usual TLS failures in words a person can act on.
func tlsProblem(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	msg := err.Error()
	switch {
	case errors.As(err, &ua):
		return "the server's certificate is signed by an unknown authority; trust its CA with --ca-cert PATH"
	case errors.As(err, &hn):
		return "the server's certificate is not valid for this host name (" + hn.Host + ")"
	case errors.As(err, &ci):
		return "the server's certificate is invalid: " + ci.Error()
	case strings.Contains(msg, "certificate required"):
		return "the server requires a client certificate signed by a CA it trusts; pass --client-cert and --client-key (a certificate from another CA is not offered)"
	case strings.Contains(msg, "unknown certificate authority"), strings.Contains(msg, "bad certificate"):
		return "the server refused the client certificate (not signed by a CA it trusts)"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "the server speaks plain http: use an http:// URL"
	}
	return ""
}

func (c *Client) once(ctx context.Context, r Request, u *url.URL, body []byte, contentType, token string) (*http.Response, error) {
	// The timeout bounds the wait for headers and then each pause while the
	// body streams, so a long export runs as long as data keeps coming.
	ctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(context.Canceled) }
	timer := time.AfterFunc(c.opts.Timeout, func() { cancelCause(errTimedOut) })
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		timer.Stop()
		cancel()
		return nil, err
	}
	if body == nil {
		req.Body = http.NoBody
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	req.Header.Set("Accept", "application/json")
	if r.Accept != "" {
		req.Header.Set("Accept", r.Accept)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if r.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	}
	c.traceRequest(req, body, contentType)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		timer.Stop()
		if errors.Is(context.Cause(ctx), errTimedOut) {
			err = errTimedOut
		}
		cancel()
		if c.opts.Debug != nil {
			fmt.Fprintf(c.opts.Debug, "< error after %s: %s\n", time.Since(start).Round(time.Millisecond), redact.String(err.Error()))
		}
		return nil, err
	}
	c.traceResponse(resp, time.Since(start))
	timer.Reset(c.opts.Timeout)
	resp.Body = &idleBody{ReadCloser: resp.Body, cancel: func() { cancel() }, timer: timer, idle: c.opts.Timeout}
	return resp, nil
}

// errTimedOut is the per-request timeout firing.
var errTimedOut error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// idleBody ends a body that stalls longer than the timeout and releases the
// request's context when closed.
type idleBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	timer  *time.Timer
	idle   time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = &TransportError{Err: fmt.Errorf("the answer stopped before its end: %s", redact.String(err.Error()))}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (c *Client) decodeError(resp *http.Response) error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	c.traceBody("<", resp.Header.Get("Content-Type"), data)
	he := &HTTPError{Status: resp.StatusCode}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != "" {
		he.Code, he.Description = body.Error, body.Description
	} else {
		// Not our JSON: a proxy's HTML page or similar. Say so briefly.
		he.Code = codeForStatus(resp.StatusCode)
		he.Description = fmt.Sprintf("the server at %s answered %d %s", c.base.Host, resp.StatusCode, http.StatusText(resp.StatusCode))
		if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
			he.Description += " with a non-JSON page (a proxy in the way?)"
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		he.RetryAfter = parseRetryAfter(ra)
	}
	if he.Code == "insufficient_scope" {
		he.Scopes = challengeScopes(resp.Header.Get("WWW-Authenticate"))
	}
	return he
}

func codeForStatus(status int) string {
	switch status {
	case 400:
		return "invalid_request"
	case 401:
		return "invalid_token"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 409:
		return "conflict"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limited"
	}
	if status >= 500 {
		return "server_error"
	}
	return "http_" + strconv.Itoa(status)
}

func parseRetryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func (c *Client) noteExpiry(resp *http.Response, token string) {
	if c.opts.OnCredentialExpiry == nil || token == "" {
		return
	}
	v := resp.Header.Get(CredentialExpiresHeader)
	if v == "" {
		return
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		name, _ := url.PathUnescape(resp.Header.Get("CodeSync-Credential-Name"))
		c.opts.OnCredentialExpiry(CredentialExpiry{Prefix: redact.Prefix(token), ID: resp.Header.Get("CodeSync-Credential-Id"), Name: name, ExpiresAt: t})
	}
}

func (c *Client) traceRequest(req *http.Request, body []byte, contentType string) {
	if c.opts.Debug == nil {
		return
	}
	fmt.Fprintf(c.opts.Debug, "> %s %s\n", req.Method, redact.String(req.URL.String()))
	for name, vals := range req.Header {
		for _, v := range vals {
			fmt.Fprintf(c.opts.Debug, "> %s: %s\n", name, redact.Header(name, v))
		}
	}
	c.traceBody(">", contentType, body)
}

func (c *Client) traceResponse(resp *http.Response, d time.Duration) {
	if c.opts.Debug == nil {
		return
	}
	fmt.Fprintf(c.opts.Debug, "< %s (%s)\n", resp.Status, d.Round(time.Millisecond))
	for name, vals := range resp.Header {
		for _, v := range vals {
			fmt.Fprintf(c.opts.Debug, "< %s: %s\n", name, redact.Header(name, v))
		}
	}
}

func (c *Client) traceBody(dir, contentType string, body []byte) {
	if c.opts.Debug == nil || len(body) == 0 {
		return
	}
	if !strings.Contains(contentType, "json") && !strings.Contains(contentType, "form") {
		fmt.Fprintf(c.opts.Debug, "%s (%d bytes of %s)\n", dir, len(body), contentType)
		return
	}
	const max = 4096
	s := string(body)
	if len(s) > max {
		s = s[:max] + "…"
	}
	fmt.Fprintf(c.opts.Debug, "%s %s\n", dir, redact.String(strings.TrimSpace(s)))
}

// WithToken returns a copy of the client that sends tok.
func (c *Client) WithToken(tok string) *Client {
	o := c.opts
	o.Token = func(context.Context) (string, error) { return tok, nil }
	n, _ := New(o)
	return n
}

// PostForm posts a form to an absolute URL on the same server (OAuth
// endpoints named by the metadata document) and decodes the JSON answer.
func (c *Client) PostForm(ctx context.Context, endpoint string, form url.Values, out any) error {
	u, err := url.Parse(endpoint)
	if err != nil || !SameOrigin(u, c.base) {
		return &EndpointError{URL: endpoint, Origin: Origin(c.base)}
	}
	if !c.Secure() {
		return &InsecureURLError{URL: c.base.String()}
	}
	return c.Do(ctx, Request{Method: http.MethodPost, Path: strings.TrimPrefix(u.Path, c.base.Path), Form: form, Anonymous: true}, out)
}

// HTTP returns the client's underlying http.Client (TLS settings included),
// for libraries such as golang.org/x/oauth2 that make their own requests.
func (c *Client) HTTP() *http.Client { return c.http }

// challengeScopes reads the scope parameter of a Bearer challenge:
// `Bearer realm="x", error="insufficient_scope", scope="a b"`.
func challengeScopes(h string) []string {
	i := strings.Index(h, `scope="`)
	for i > 0 && h[i-1] != ' ' && h[i-1] != ',' { // not error_scope= or the like
		j := strings.Index(h[i+1:], `scope="`)
		if j < 0 {
			return nil
		}
		i += 1 + j
	}
	if i < 0 {
		return nil
	}
	rest := h[i+len(`scope="`):]
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return nil
	}
	return strings.Fields(rest[:end])
}
