package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenURL is wrapped by every URL or address the SSRF rules refuse.
var ErrForbiddenURL = errors.New("webhook: endpoint not allowed")

// ClientOptions configure NewClient.
type ClientOptions struct {
	// AllowPrivate lets deliveries reach private, link-local, shared (CGNAT)
	// and unique-local addresses (server flag for on-premises receivers).
	// Unspecified, multicast and broadcast addresses stay refused.
	AllowPrivate bool
	// Timeout bounds one delivery attempt end to end (default 15 s).
	Timeout time.Duration
	// Resolver resolves host names (default net.DefaultResolver). Every
	// address it returns is checked at connect time.
	Resolver *net.Resolver
}

// DefaultTimeout bounds one delivery attempt.
const DefaultTimeout = 15 * time.Second

// ValidateURL applies the https-or-loopback rule to an endpoint URL: https to
// any host, or http only to a loopback host (127.0.0.0/8, ::1, localhost). No
// user info, no fragment. With allowPrivate false, a literal private or
// link-local IP is refused here too; host names are checked again at every
// dial (see NewClient), which is what resists DNS rebinding.
func ValidateURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrForbiddenURL)
	}
	if u.User != nil {
		return fmt.Errorf("%w: user info in URL", ErrForbiddenURL)
	}
	if u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("%w: fragment or opaque URL", ErrForbiddenURL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host", ErrForbiddenURL)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(host) {
			return fmt.Errorf("%w: http is allowed only to loopback; use https", ErrForbiddenURL)
		}
	default:
		return fmt.Errorf("%w: scheme must be https (or http to loopback)", ErrForbiddenURL)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := checkAddr(ip, allowPrivate); err != nil {
			return err
		}
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// checkAddr refuses addresses a webhook must not reach.
func checkAddr(ip netip.Addr, allowPrivate bool) error {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsMulticast(), ip.IsInterfaceLocalMulticast(),
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%w: address %s", ErrForbiddenURL, ip)
	case ip.IsLoopback():
		return nil // the https-or-loopback rule allows loopback
	case allowPrivate:
		return nil
	case ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), cgnat.Contains(ip):
		return fmt.Errorf("%w: private or link-local address %s", ErrForbiddenURL, ip)
	}
	return nil
}

// Client delivers webhook messages. Safe for concurrent use.
type Client struct {
	hc           *http.Client
	allowPrivate bool
}

// HTTP returns the underlying SSRF-safe *http.Client.
func (c *Client) HTTP() *http.Client { return c.hc }

// NewClient returns a client for deliveries. It checks the address of
// every connection it opens, after name resolution, at connect time (so a
// name that resolves to a public address when the URL is registered and to a
// private one later, DNS rebinding, is still refused); it uses no proxy from
// the environment (a proxy would connect on its behalf, unchecked) and does
// not follow redirects (a 3xx is a failed delivery).
func NewClient(opts ClientOptions) *Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{
		Timeout:  10 * time.Second,
		Resolver: opts.Resolver,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: address %q", ErrForbiddenURL, address)
			}
			return checkAddr(ap.Addr(), opts.AllowPrivate)
		},
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          50,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &Client{allowPrivate: opts.AllowPrivate, hc: &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Message is one webhook message to deliver.
type Message struct {
	URL       string
	ID        string    // webhook-id; the same on every retry and redelivery
	Timestamp time.Time // webhook-timestamp; set per attempt (now)
	Body      []byte    // JSON payload
	Secrets   []string  // one, or two while a secret is rotated
}

// Result describes one delivery attempt, for the delivery log.
type Result struct {
	StatusCode int           // 0 when no response was received
	Duration   time.Duration // time to the response (or the error)
	Response   string        // the first bytes of the response body
}

// maxResponse is how much of a response body the delivery log keeps.
const maxResponse = 1024

// Deliver POSTs m to its URL with the Standard Webhooks headers (the
// client's timeout bounds the attempt). Only a 2xx answer is
// success; any other answer, a redirect, a refused address or a network error
// is returned as an error along with the Result for the log. The error never
// contains the secret.
func (c *Client) Deliver(ctx context.Context, m Message) (Result, error) {
	var res Result
	if err := ValidateURL(m.URL, c.allowPrivate); err != nil {
		return res, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, strings.NewReader(string(m.Body)))
	if err != nil {
		return res, fmt.Errorf("webhook: %w", err)
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	if err := SetHeaders(req.Header, m.ID, ts, m.Body, m.Secrets...); err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "codesync-webhooks/1")
	start := time.Now()
	resp, err := c.hc.Do(req)
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("webhook: delivery to %s: %w", redactURL(m.URL), unwrapURLError(err))
	}
	defer resp.Body.Close()
	buf := make([]byte, maxResponse)
	n, _ := readFull(resp.Body, buf)
	res.StatusCode = resp.StatusCode
	res.Response = string(buf[:n])
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return res, fmt.Errorf("webhook: delivery to %s: HTTP %d", redactURL(m.URL), resp.StatusCode)
	}
	return res, nil
}

func readFull(r interface{ Read([]byte) (int, error) }, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// unwrapURLError drops *url.Error's "Post URL:" prefix (the URL is named
// once, redacted) while keeping the cause for errors.Is.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL keeps scheme, host and path: query strings of receivers often
// carry tokens.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}
