package auth

import (
	"context"
	"errors"
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

// Metadata is the RFC 8414 document.
type Metadata struct {
	Issuer                      string   `json:"issuer"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	TokenEndpoint               string   `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint"`
	RevocationEndpoint          string   `json:"revocation_endpoint"`
	IntrospectionEndpoint       string   `json:"introspection_endpoint"`
	ScopesSupported             []string `json:"scopes_supported"`
	CodeChallengeMethods        []string `json:"code_challenge_methods_supported"`
}

// Discover fetches the server's RFC 8414 metadata.
func Discover(ctx context.Context, c *api.Client) (*Metadata, error) {
	var m Metadata
	if err := c.Do(ctx, api.Request{Method: http.MethodGet, Path: "/.well-known/oauth-authorization-server", Anonymous: true}, &m); err != nil {
		return nil, err
	}
	if m.TokenEndpoint == "" {
		return nil, errors.New("the server's OAuth metadata names no token endpoint")
	}
	return &m, nil
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

// SessionFromToken turns an oauth2 token into a stored session.
func SessionFromToken(t *oauth2.Token, fallbackScopes []string, user string) *Session {
	scopes := fallbackScopes
	if s, ok := t.Extra("scope").(string); ok && s != "" {
		scopes = strings.Fields(s)
	}
	return &Session{Type: TypeOAuth, AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry.UTC(), Scopes: scopes, User: user}
}

// Refresh exchanges s's refresh token (which the server then rotates).
func Refresh(ctx context.Context, c *api.Client, hc *http.Client, s *Session) (*Session, error) {
	m, err := Discover(ctx, c)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	cfg := m.OAuthConfig(s.Scopes, "")
	t, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: s.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, &SessionExpiredError{Reason: "the server refused the refresh (" + re.ErrorCode + ")"}
		}
		return nil, &api.TransportError{Err: errors.New("cannot refresh the session: the token endpoint did not answer")}
	}
	return SessionFromToken(t, s.Scopes, s.User), nil
}

// Revoke revokes the session's refresh token (RFC 7009), which ends its whole
// token family on the server.
func Revoke(ctx context.Context, c *api.Client, s *Session) error {
	m, err := Discover(ctx, c)
	if err != nil {
		return err
	}
	if m.RevocationEndpoint == "" {
		return errors.New("the server offers no revocation endpoint")
	}
	tok, hint := s.RefreshToken, "refresh_token"
	if tok == "" {
		tok, hint = s.AccessToken, "access_token"
	}
	form := url.Values{"token": {tok}, "token_type_hint": {hint}, "client_id": {ClientID}}
	return c.PostForm(ctx, m.RevocationEndpoint, form, nil)
}
