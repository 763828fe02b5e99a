package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/codesync/codesync-cli/pkg/api"
)

// ClientID is the CLI's public OAuth client.
const ClientID = "codesync-cli"

// DefaultScopes of a login (login --help).
var DefaultScopes = []string{"keys:read", "keys:write", "audit:read", "registry:read"}

// Metadata is the RFC 8414 (or OpenID Connect Discovery) document.
type Metadata struct {
	Issuer                      string   `json:"issuer"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	TokenEndpoint               string   `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint"`
	RevocationEndpoint          string   `json:"revocation_endpoint"`
	IntrospectionEndpoint       string   `json:"introspection_endpoint"`
	ScopesSupported             []string `json:"scopes_supported"`
	CodeChallengeMethods        []string `json:"code_challenge_methods_supported"`
	// RFC 9207: the authorization response carries iss.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// MetadataError: the authorization server's metadata cannot be trusted (wrong
// issuer, endpoints elsewhere). Raised before any user interaction and before
// any code, verifier or token is sent.
type MetadataError struct{ Msg string }

func (e *MetadataError) Error() string { return e.Msg }

// Provider is an authorization server whose metadata passed the checks, and
// the client for its origin.
type Provider struct {
	*Metadata
	client *api.Client // bound to the issuer's origin
}

// HTTPClient is the client for the provider's OAuth endpoints: the CLI's
// User-Agent and --debug trace, and nothing sent off the issuer's origin.
func (p *Provider) HTTPClient() *http.Client { return p.client.OAuthHTTP() }

// Discover fetches and checks the metadata of the server c talks to (its
// own issuer). It is the issuer `jwt sign` names as the default audience.
func Discover(ctx context.Context, c *api.Client) (*Metadata, error) {
	p, err := NewProvider(ctx, c, "")
	if err != nil {
		return nil, err
	}
	return p.Metadata, nil
}

// NewProvider discovers the authorization server: the issuer the profile
// names (oauth_issuer), else the server c talks to. RFC 8414 metadata is
// tried first, then OpenID Connect Discovery; either way the document's
// issuer must be the one asked for (RFC 8414 §3.3), and every endpoint must
// be on the issuer's origin and obey the https-or-loopback rule.
func NewProvider(ctx context.Context, c *api.Client, issuer string) (*Provider, error) {
	if issuer == "" {
		issuer = c.BaseURL()
	}
	iu, err := url.Parse(issuer)
	if err != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" || iu.RawQuery != "" || iu.Fragment != "" || iu.User != nil {
		return nil, &MetadataError{Msg: fmt.Sprintf("invalid OAuth issuer %q: use https://HOST[/PATH] (no query, no fragment)", issuer)}
	}
	if !api.SecureURL(iu) {
		return nil, &api.InsecureURLError{URL: issuer}
	}
	ic := c
	if api.Origin(iu) != api.Origin(mustParse(c.BaseURL())) || strings.TrimRight(mustParse(c.BaseURL()).Path, "/") != "" {
		if ic, err = c.ForOrigin(api.Origin(iu)); err != nil {
			return nil, err
		}
	}
	path := strings.TrimRight(iu.EscapedPath(), "/")
	candidates := []string{
		// RFC 8414 §3: the well-known segment goes between host and path
		"/.well-known/oauth-authorization-server" + path,
		// OpenID Connect Discovery 1.0 §4: appended to the issuer
		path + "/.well-known/openid-configuration",
	}
	if path != "" {
		// what this CLI asked for before, and some servers still serve
		candidates = append(candidates, path+"/.well-known/oauth-authorization-server")
	}
	var m Metadata
	for _, p := range candidates {
		m = Metadata{}
		if err = ic.Do(ctx, api.Request{Method: http.MethodGet, Path: p, Anonymous: true}, &m); !fallback(err) {
			break
		}
	}
	if fallback(err) {
		return nil, &MetadataError{Msg: fmt.Sprintf("%s publishes no OAuth metadata (neither /.well-known/oauth-authorization-server nor /.well-known/openid-configuration)", issuer)}
	}
	if err != nil {
		return nil, err
	}
	if err := m.check(issuer); err != nil {
		return nil, err
	}
	return &Provider{Metadata: &m, client: ic}, nil
}

// fallback: the RFC 8414 document is not there (4xx other than 429, or an
// answer that is not the JSON expected): try OpenID Connect Discovery.
func fallback(err error) bool {
	if err == nil {
		return false
	}
	var he *api.HTTPError
	if errors.As(err, &he) {
		return he.Status >= 400 && he.Status < 500 && he.Status != http.StatusTooManyRequests
	}
	return errors.Is(err, api.ErrMalformed)
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// sameIssuer compares issuer identifiers as strings (RFC 8414 §3.3), with a
// trailing slash not counted.
func sameIssuer(a, b string) bool {
	return a != "" && strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// check: the issuer is the one asked for, and the endpoints are usable.
func (m *Metadata) check(issuer string) error {
	if !sameIssuer(m.Issuer, issuer) {
		return &MetadataError{Msg: fmt.Sprintf("the OAuth metadata of %s names the issuer %q, not %s: refusing to use it (RFC 8414 §3.3); if this provider really is your server's issuer, name it with 'codesync-cli config set oauth_issuer URL'", issuer, m.Issuer, issuer)}
	}
	return m.checkEndpoints()
}

// checkEndpoints: every endpoint the CLI may send a secret to is on the
// issuer's origin and obeys the https-or-loopback rule.
func (m *Metadata) checkEndpoints() error {
	iu, err := url.Parse(m.Issuer)
	if err != nil || iu.Host == "" {
		return &MetadataError{Msg: fmt.Sprintf("the OAuth metadata names an invalid issuer %q", m.Issuer)}
	}
	if m.TokenEndpoint == "" {
		return &MetadataError{Msg: "the server's OAuth metadata names no token endpoint"}
	}
	for _, e := range []struct{ name, url string }{
		{"token_endpoint", m.TokenEndpoint},
		{"authorization_endpoint", m.AuthorizationEndpoint},
		{"device_authorization_endpoint", m.DeviceAuthorizationEndpoint},
		{"revocation_endpoint", m.RevocationEndpoint},
	} {
		if e.url == "" {
			continue
		}
		u, err := url.Parse(e.url)
		switch {
		case err != nil || u.Host == "":
			return &MetadataError{Msg: fmt.Sprintf("the OAuth metadata's %s %q is not a URL", e.name, e.url)}
		case !api.SecureURL(u):
			return &MetadataError{Msg: fmt.Sprintf("the OAuth metadata's %s %s is plain http to a host that is not loopback: refusing to use it", e.name, e.url)}
		case !api.SameOrigin(u, iu):
			return &MetadataError{Msg: fmt.Sprintf("the OAuth metadata's %s %s is not on the issuer's origin %s: refusing to send anything there", e.name, e.url, api.Origin(iu))}
		}
	}
	return nil
}

// OAuthConfig is the oauth2 config of the CLI's public client. AuthStyle is
// fixed: auto-detection would retry a failed refresh in the other style and
// so send a rotating refresh token twice.
func (m *Metadata) OAuthConfig(scopes []string, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: ClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:       m.AuthorizationEndpoint,
			TokenURL:      m.TokenEndpoint,
			DeviceAuthURL: m.DeviceAuthorizationEndpoint,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		RedirectURL: redirect,
		Scopes:      scopes,
	}
}

// checkTokenType: the CLI sends tokens as Bearer (RFC 6750) and nothing
// else; a token of another type (DPoP, N_A…) would not work as one. A
// missing token_type is taken as Bearer, as golang.org/x/oauth2 does.
func checkTokenType(t *oauth2.Token) error {
	if t.TokenType == "" || strings.EqualFold(t.TokenType, "bearer") {
		return nil
	}
	return &LoginError{Code: "unsupported_token_type", Msg: fmt.Sprintf("the server issued a token of type %q; codesync-cli only uses Bearer tokens", t.TokenType)}
}

// SessionFromToken turns an oauth2 token into a stored session. A token
// without expires_in keeps a zero expiry: unknown, not expired.
func SessionFromToken(t *oauth2.Token, fallbackScopes []string, user string) *Session {
	scopes := fallbackScopes
	if s, ok := t.Extra("scope").(string); ok && s != "" {
		scopes = strings.Fields(s)
	}
	return &Session{Type: TypeOAuth, AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry.UTC(), Scopes: scopes, User: user}
}

// Refresh exchanges s's refresh token (which the server may rotate) at the
// token endpoint of the issuer (oauth_issuer, else c's server).
func Refresh(ctx context.Context, c *api.Client, issuer string, s *Session) (*Session, error) {
	p, err := NewProvider(ctx, c, issuer)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.HTTPClient())
	cfg := p.OAuthConfig(s.Scopes, "")
	t, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: s.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		var ee *api.EndpointError
		switch {
		case errors.As(err, &re):
			return nil, &SessionExpiredError{Reason: "the server refused the refresh (" + re.ErrorCode + ")"}
		case errors.As(err, &ee):
			return nil, ee
		}
		return nil, &api.TransportError{Err: errors.New("cannot refresh the session: the token endpoint did not answer")}
	}
	if err := checkTokenType(t); err != nil {
		return nil, err
	}
	return SessionFromToken(t, s.Scopes, s.User), nil
}

// Revoke revokes the session's refresh token (RFC 7009), which ends its whole
// token family on the server.
func Revoke(ctx context.Context, c *api.Client, issuer string, s *Session) error {
	p, err := NewProvider(ctx, c, issuer)
	if err != nil {
		return err
	}
	if p.RevocationEndpoint == "" {
		return errors.New("the server offers no revocation endpoint")
	}
	tok, hint := s.RefreshToken, "refresh_token"
	if tok == "" {
		tok, hint = s.AccessToken, "access_token"
	}
	form := url.Values{"token": {tok}, "token_type_hint": {hint}, "client_id": {ClientID}}
	return p.client.PostForm(ctx, p.RevocationEndpoint, form, nil)
}
