package federation

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCProvider is an OpenID Connect provider (type oidc), or GitLab (type
// gitlab: OpenID Connect whose groups come from the `groups` claim of the
// userinfo answer, all groups with inherited membership, or
// `groups_direct` in the ID token, direct memberships only). Discovery,
// ID token signature, issuer, audience and expiry checks are go-oidc's;
// the nonce and the subject are checked here.
type OIDCProvider struct {
	cfg      ProviderConfig
	redirect string
	client   *http.Client

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovery succeeded
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// NewOIDCProvider returns the provider for cfg (type oidc or gitlab). It
// makes no request; discovery runs at the first use.
func NewOIDCProvider(cfg ProviderConfig, opts Options) *OIDCProvider {
	c := opts.HTTPClient
	if c == nil {
		c = DefaultHTTPClient()
	}
	return &OIDCProvider{cfg: cfg, redirect: RedirectURI(opts.ServerURL, cfg.ID), client: c}
}

// ID implements Provider.
func (p *OIDCProvider) ID() string { return p.cfg.ID }

// Name implements Provider.
func (p *OIDCProvider) Name() string { return p.cfg.Name }

// RecheckInterval implements Provider.
func (p *OIDCProvider) RecheckInterval() time.Duration { return p.cfg.Recheck }

func (p *OIDCProvider) ctx(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, p.client)
	return context.WithValue(ctx, oauth2.HTTPClient, p.client)
}

// discover runs OpenID discovery once (again after a failure). go-oidc
// refuses a discovery document whose issuer is not the configured one.
func (p *OIDCProvider) discover(ctx context.Context) (*oidc.Provider, *oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, p.oauth, p.verifier, nil
	}
	prov, err := oidc.NewProvider(p.ctx(ctx), p.cfg.Issuer)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("federation: provider %s: discovery: %w", p.cfg.ID, err)
	}
	ep := prov.Endpoint()
	// client_secret_basic, the method every provider must support; never
	// auto-detect, which sends a refused refresh token a second time.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	p.provider = prov
	p.oauth = &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret.Reveal(),
		Endpoint:     ep,
		RedirectURL:  p.redirect,
		Scopes:       p.cfg.Scopes,
	}
	p.verifier = prov.Verifier(&oidc.Config{ClientID: p.cfg.ClientID})
	return p.provider, p.oauth, p.verifier, nil
}

// AuthURL implements Provider.
func (p *OIDCProvider) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	_, oc, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange implements Provider.
func (p *OIDCProvider) Exchange(ctx context.Context, code, verifier, nonce string) (Identity, string, error) {
	prov, oc, v, err := p.discover(ctx)
	if err != nil {
		return Identity{}, "", err
	}
	ctx = p.ctx(ctx)
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, "", denied("code exchange", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, "", fmt.Errorf("%w: the token answer has no ID token", ErrDenied)
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: ID token: %v", ErrDenied, err)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, "", fmt.Errorf("%w: ID token: nonce does not match the sign-in", ErrDenied)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, "", fmt.Errorf("%w: ID token: %v", ErrDenied, err)
		}
	}
	id, err := p.identity(ctx, prov, idt, tok)
	if err != nil {
		return Identity{}, "", err
	}
	return id, tok.RefreshToken, nil
}

// Recheck implements Provider: a refresh_token grant (the provider refuses
// it for a disabled account or a revoked token), then the groups from the
// refreshed ID token or the userinfo endpoint. On any error the kept refresh
// token may already be used up (rotation): the session ends and the person
// signs in again.
func (p *OIDCProvider) Recheck(ctx context.Context, subject, refreshToken string) (Identity, string, error) {
	if refreshToken == "" {
		return Identity{}, "", ErrNoRefreshToken
	}
	prov, oc, v, err := p.discover(ctx)
	if err != nil {
		return Identity{}, "", err
	}
	ctx = p.ctx(ctx)
	tok, err := oc.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return Identity{}, "", denied("refresh", err)
	}
	var idt *oidc.IDToken
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		if idt, err = v.Verify(ctx, raw); err != nil {
			return Identity{}, "", fmt.Errorf("%w: refreshed ID token: %v", ErrDenied, err)
		}
	}
	id, err := p.identity(ctx, prov, idt, tok)
	if err != nil {
		return Identity{}, "", err
	}
	if id.Subject != subject {
		return Identity{}, "", fmt.Errorf("%w: the refresh answered for another subject", ErrDenied)
	}
	next := tok.RefreshToken
	if next == "" {
		next = refreshToken // not rotated
	}
	return id, next, nil
}

// identity builds the Identity from the ID token's claims, completed from
// the userinfo endpoint when the groups (or user name) are not in the ID
// token, as with GitLab's `groups` and oidc-provider's default.
func (p *OIDCProvider) identity(ctx context.Context, prov *oidc.Provider, idt *oidc.IDToken, tok *oauth2.Token) (Identity, error) {
	claims := map[string]any{}
	sub := ""
	if idt != nil {
		if err := idt.Claims(&claims); err != nil {
			return Identity{}, fmt.Errorf("federation: ID token claims: %w", err)
		}
		sub = idt.Subject
	}
	_, hasGroups := lookupClaim(claims, p.cfg.GroupsClaim)
	_, hasUser := lookupClaim(claims, p.cfg.UsernameClaim)
	if (idt == nil || !hasGroups || !hasUser) && prov.UserInfoEndpoint() != "" {
		ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			if idt == nil {
				return Identity{}, fmt.Errorf("%w: userinfo: %v", ErrDenied, err)
			}
			return Identity{}, fmt.Errorf("federation: userinfo: %w", err)
		}
		if sub != "" && ui.Subject != sub {
			return Identity{}, fmt.Errorf("%w: userinfo is about another subject", ErrDenied)
		}
		sub = ui.Subject
		extra := map[string]any{}
		if err := ui.Claims(&extra); err != nil {
			return Identity{}, fmt.Errorf("federation: userinfo claims: %w", err)
		}
		for k, v := range extra {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	if sub == "" {
		return Identity{}, fmt.Errorf("%w: no subject", ErrDenied)
	}
	id := Identity{Provider: p.cfg.ID, Subject: sub, Groups: []string{}}
	if v, ok := lookupClaim(claims, p.cfg.UsernameClaim); ok {
		id.Username, _ = v.(string)
	}
	if v, ok := claims["email"].(string); ok {
		id.Email = v
	}
	if v, ok := lookupClaim(claims, p.cfg.GroupsClaim); ok {
		id.Groups = stringList(v)
	}
	return id, nil
}

// lookupClaim finds a claim by its name, or else by a dotted path into
// nested objects (Keycloak's "realm_access.roles").
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if name == "" {
		return nil, false
	}
	if v, ok := claims[name]; ok {
		return v, true
	}
	parts := strings.Split(name, ".")
	var cur any = claims
	for _, part := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// stringList reads a claim holding a list of strings or one string.
func stringList(v any) []string {
	out := []string{}
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	switch x := v.(type) {
	case string:
		add(x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	return out
}

var _ Provider = (*OIDCProvider)(nil)
