package server

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// Credential is an authenticated caller: an API key, an OAuth access token or
// a JWT, all reduced to the same shape for the handlers.
type Credential struct {
	Type        string // model.Credential*
	ID          string // key id, token id or JWT id
	Prefix      string // displayable start of the token
	Name        string // the API key's name ("" for other credentials)
	User        *store.User
	Scopes      []string
	ExpiresAt   time.Time
	Environment string
	CIDRs       []string
	Namespaces  []string
	RateClass   string // "prod" or "dev"
	Family      string // OAuth: the session (token family) the access token belongs to
	Provider    string // OAuth: the identity provider the session came from ("" for local sign-in)
	limit       sessionLimit
}

// HasScope reports whether the credential holds scope.
func (c *Credential) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

func (c *Credential) keyID() *string {
	if c.Type == model.CredentialAPIKey {
		return &c.ID
	}
	return nil
}

// bearer extracts the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// authenticate finds and checks the request's credential. Each credential
// type has its own checker; they share the account checks below.
func (s *Server) authenticate(r *http.Request) (*Credential, *apiError) {
	tok, ok := bearer(r)
	if !ok {
		return nil, invalidToken("no credential: send Authorization: Bearer TOKEN")
	}
	var (
		c *Credential
		e *apiError
	)
	switch {
	case token.Looks(tok):
		c, e = s.authAPIKey(r.Context(), tok)
	case strings.HasPrefix(tok, oidcTokenPrefix):
		c, e = s.authOIDC(r, tok)
	case strings.Count(tok, ".") == 2:
		c, e = s.authJWT(r, tok)
	default:
		c, e = s.authOAuth(r, tok)
	}
	if e != nil {
		return nil, e
	}
	if c.User.Suspended {
		return nil, errf(http.StatusForbidden, "account_suspended", "the account %s is suspended", c.User.Name)
	}
	if s.cfg.Environment == model.EnvSandbox && c.Environment == model.EnvProduction && c.Type == model.CredentialAPIKey {
		return nil, errf(http.StatusForbidden, "environment_mismatch", "this is a sandbox server: csy_prod_ keys are refused, use a csy_dev_ key")
	}
	if !keyrules.AllowedFrom(c.CIDRs, remoteAddr(r)) {
		return nil, errf(http.StatusForbidden, "ip_not_allowed", "this key may not be used from %s", remoteAddr(r))
	}
	return c, nil
}

func (s *Server) authAPIKey(ctx context.Context, tok string) (*Credential, *apiError) {
	env, err := token.Parse(tok)
	if err != nil {
		return nil, invalidToken("malformed API key (bad format or checksum)")
	}
	h := token.Hash(tok)
	now := s.now()
	k, u, cached := s.creds.get(h, now)
	if !cached {
		var err error
		if k, err = s.store.KeyByHash(ctx, h); err != nil {
			return nil, invalidToken("unknown API key")
		}
		if u, err = s.store.UserByID(ctx, k.UserID); err != nil {
			return nil, invalidToken("unknown API key")
		}
		s.creds.put(k, u, now)
	}
	// the lookup is by hash; compare the stored hash in constant time anyway
	if subtle.ConstantTimeCompare(k.TokenHash, h) != 1 {
		return nil, invalidToken("unknown API key")
	}
	if k.RevokedAt != nil {
		return nil, invalidToken("the API key was revoked")
	}
	if !now.Before(k.ExpiresAt) {
		return nil, invalidToken("the API key has expired")
	}
	return &Credential{
		Type: model.CredentialAPIKey, ID: k.ID, Prefix: k.Prefix, User: u, Scopes: k.Scopes,
		ExpiresAt: k.ExpiresAt, Environment: k.Environment, CIDRs: k.CIDRs, Namespaces: k.Namespaces, RateClass: env,
		Name: k.Name,
	}, nil
}
