package api

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/redact"
)

// Origin is the scheme://host[:port] of u, without a default port.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

// SameOrigin: same scheme, host and port (RFC 6454), default ports ignored.
func SameOrigin(a, b *url.URL) bool { return Origin(a) == Origin(b) }

// EndpointError refuses a request to an OAuth endpoint that is not on the
// authorization server's origin or breaks the https-or-loopback rule. It is
// raised before any connection is made.
type EndpointError struct {
	URL    string
	Origin string
}

func (e *EndpointError) Error() string {
	u, err := url.Parse(e.URL)
	if err == nil && !SecureURL(u) {
		return fmt.Sprintf("refusing to send OAuth secrets to %s: plain http is allowed only for 127.0.0.0/8, ::1 and localhost", redact.String(e.URL))
	}
	return fmt.Sprintf("refusing to send OAuth secrets to %s: it is not on the authorization server's origin %s", redact.String(e.URL), e.Origin)
}

// ForOrigin returns an anonymous client for another base URL (an OAuth
// issuer the profile names) with the same transport, User-Agent, timeout and
// --debug trace.
func (c *Client) ForOrigin(baseURL string) (*Client, error) {
	o := c.opts
	o.BaseURL = baseURL
	o.Token = nil
	o.Reauth = nil
	o.OnCredentialExpiry = nil
	o.HTTPClient = &http.Client{Transport: c.http.Transport}
	return New(o)
}

// OAuthHTTP returns an http.Client for the OAuth requests that libraries such
// as golang.org/x/oauth2 make themselves (device authorization, polls, code
// exchange, refresh): it sends the CLI's User-Agent, writes the same redacted
// --debug trace as the API client, refuses any URL that is not on this
// client's origin or breaks the https-or-loopback rule, and never follows a
// redirect (which would carry a code, verifier or refresh token elsewhere).
func (c *Client) OAuthHTTP() *http.Client {
	return &http.Client{
		Transport:     &oauthTransport{c: c},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       c.opts.Timeout,
	}
}

type oauthTransport struct{ c *Client }

func (t *oauthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.c
	if !SameOrigin(req.URL, c.base) || !SecureURL(req.URL) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &EndpointError{URL: req.URL.String(), Origin: Origin(c.base)}
	}
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if c.opts.Debug != nil && req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		c.traceRequest(req, body, req.Header.Get("Content-Type"))
	} else {
		c.traceRequest(req, nil, "")
	}
	start := time.Now()
	resp, err := c.http.Transport.RoundTrip(req)
	if err != nil {
		if c.opts.Debug != nil {
			fmt.Fprintf(c.opts.Debug, "< error after %s: %s\n", time.Since(start).Round(time.Millisecond), redact.String(err.Error()))
		}
		return nil, err
	}
	c.traceResponse(resp, time.Since(start))
	if c.opts.Debug != nil {
		// OAuth answers are small; trace up to 64 KiB and pass the rest on
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		c.traceBody("<", resp.Header.Get("Content-Type"), head)
		resp.Body = &readCloser{Reader: io.MultiReader(bytes.NewReader(head), resp.Body), Closer: resp.Body}
	}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
