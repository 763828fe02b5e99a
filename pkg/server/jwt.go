package server

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/codesync/codesync-cli/pkg/jwtkeys"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/policy"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// MaxJWTKeys is how many JWT signing keys a user may register.
const MaxJWTKeys = 10

const (
	jwtMaxTTL = 24 * time.Hour
	jwtLeeway = 30 * time.Second // clock skew between caller and server
)

func (s *Server) jwtRoutes() {
	s.handle("POST /v1/jwt/keys", s.auth("keys:write", s.registerJWTKey))
	s.handle("GET /v1/jwt/keys", s.auth("keys:read", s.listJWTKeys))
	s.handle("GET /v1/jwt/keys/{id}", s.auth("keys:read", s.getJWTKey))
	s.handle("DELETE /v1/jwt/keys/{id}", s.auth("keys:write", s.deleteJWTKey))
}

func jwtKeyJSON(k *store.JWTKey) model.JWTKey {
	return model.JWTKey{ID: k.ID, Name: k.Name, Fingerprint: k.Fingerprint, Bits: k.Bits, CreatedAt: k.CreatedAt}
}

func (s *Server) registerJWTKey(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	var req model.RegisterJWTKeyRequest
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	pub, err := jwtkeys.ParsePublic([]byte(req.PublicKey))
	if err != nil {
		return badRequest("public_key: %s", err)
	}
	if req.Name == "" {
		req.Name = "jwt-key"
	}
	if !validName(req.Name) {
		return badRequest("name must be 1 to 64 printable characters")
	}
	if c.Type == model.CredentialJWT {
		// a JWT key is registered by its root credential (an API key or a
		// person's session), never by another JWT: so revoking that root ends
		// every JWT key it registered and their JWTs, checked in one step
		return errf(http.StatusForbidden, policy.CodeInsufficientScope,
			"a JWT cannot register a JWT signing key: register it with an API key or a signed-in session")
	}
	now := s.now().Truncate(time.Second)
	// the key records the registering credential's ceiling: every JWT it
	// signs is cut down to it (authJWT)
	g, e := s.bound(r, c, policy.Request{Grant: policy.Grant{Scopes: c.Scopes}}, "a JWT signing key")
	if e != nil {
		return e
	}
	// store the key re-encoded: no trailing data from the request survives
	block := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
	k := &store.JWTKey{ID: "jwk_" + token.RandomString(16), UserID: c.User.ID, Name: req.Name, PublicPEM: string(block),
		Fingerprint: jwtkeys.Fingerprint(pub), Bits: pub.N.BitLen(), CreatedAt: now,
		Scopes: g.Scopes, Namespaces: g.Namespaces, CIDRs: g.CIDRs, Environment: g.Environment, RegisteredBy: c.binding()}
	if pc := c.Ceiling(); !pc.ExpiresAt.IsZero() {
		t := pc.ExpiresAt.UTC().Truncate(time.Second)
		k.ExpiresAt = &t
	}
	ip := remoteAddr(r).String()
	ev := &store.Event{UserID: &c.User.ID, Type: model.EventTokenCreated, Time: now, Actor: c.User.Name, IP: &ip,
		Detail: "jwt key " + k.ID + " registered (" + k.Fingerprint + ") scopes=" + strings.Join(k.Scopes, ",") + " env=" + k.Environment}
	if err := s.store.AddJWTKey(r.Context(), k, MaxJWTKeys, ev); errors.Is(err, store.ErrKeyLimit) {
		return errf(http.StatusConflict, "key_limit_reached", "a user registers at most %d JWT keys: delete one first (codesync-cli jwt delete-key ID)", MaxJWTKeys)
	} else if err != nil {
		return s.internal(err)
	}
	writeJSON(w, http.StatusCreated, jwtKeyJSON(k))
	return nil
}

func (s *Server) listJWTKeys(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	keys, err := s.store.ListJWTKeys(r.Context(), c.User.ID)
	if err != nil {
		return s.internal(err)
	}
	out := model.JWTKeyList{Keys: []model.JWTKey{}}
	for _, k := range keys {
		out.Keys = append(out.Keys, jwtKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getJWTKey(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	k, err := s.store.JWTKeyByID(r.Context(), r.PathValue("id"))
	if err != nil || k.UserID != c.User.ID {
		return notFound("JWT key")
	}
	writeJSON(w, http.StatusOK, jwtKeyJSON(k))
	return nil
}

func (s *Server) deleteJWTKey(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	id := r.PathValue("id")
	ip := remoteAddr(r).String()
	ev := &store.Event{UserID: &c.User.ID, Type: model.EventTokenRevoked, Time: s.now(), Actor: c.User.Name, IP: &ip, Detail: "jwt key " + id + " deleted"}
	if err := s.store.DeleteJWTKey(r.Context(), c.User.ID, id, ev); errors.Is(err, store.ErrNotFound) {
		return notFound("JWT key")
	} else if err != nil {
		return s.internal(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// jwtClaims are the claims `jwt sign` writes.
type jwtClaims struct {
	Scope string `json:"scope"`
	jwt.RegisteredClaims
}

// authJWT checks an RS256 JWT: kid names a key of the iss user, alg is exactly
// RS256 (none, HS256 and key confusion refused), aud is this server's issuer,
// exp in the future and at most 24 h after iat, scopes known.
func (s *Server) authJWT(r *http.Request, raw string) (*Credential, *apiError) {
	var key *store.JWTKey
	claims := &jwtClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithAudience(s.cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(s.now),
	)
	crit := false
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: a crit extension not understood makes the JWT
		// invalid, and this server understands none
		if _, ok := t.Header["crit"]; ok {
			crit = true
			return nil, errors.New("crit")
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		k, err := s.store.JWTKeyByID(r.Context(), kid)
		if err != nil {
			return nil, errors.New("unknown kid")
		}
		u, err := s.store.UserByID(r.Context(), k.UserID)
		if err != nil || claims.Issuer != u.Name {
			return nil, errors.New("kid does not belong to the issuer")
		}
		pub, err := jwtkeys.ParsePublic([]byte(k.PublicPEM))
		if err != nil {
			return nil, err
		}
		key = k
		return pub, nil // an *rsa.PublicKey: an HS256 token can never verify against it
	})
	if crit {
		return nil, invalidToken("invalid JWT: the crit header names extensions this server does not understand")
	}
	if err != nil {
		return nil, invalidToken("invalid JWT: " + jwtReason(err))
	}
	if claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > jwtMaxTTL {
		return nil, invalidToken("invalid JWT: a token lives at most 24 h (exp - iat)")
	}
	if claims.Subject != "" && claims.Subject != claims.Issuer {
		return nil, invalidToken("invalid JWT: sub must equal iss")
	}
	scopes, err := keyrules.CheckScopes(strings.Fields(claims.Scope))
	if err != nil {
		return nil, invalidToken("invalid JWT: " + err.Error())
	}
	u, err := s.store.UserByID(r.Context(), key.UserID)
	if err != nil {
		return nil, invalidToken("invalid JWT")
	}
	// effective rights: the claims intersected with the ceiling recorded
	// with the signing key
	// and the policies of the organizations it reaches: the one ceiling rule
	org, err := s.orgLimitsFor(r.Context(), key.UserID, false, "")
	if err != nil {
		return nil, s.internal(err)
	}
	g, refusal, e := s.checkCeiling(jwtKeyCeiling(key), policy.Request{Narrow: true,
		Grant: policy.Grant{Scopes: scopes, ExpiresAt: claims.ExpiresAt.Time}}, org)
	if refusal != nil {
		return nil, invalidToken("invalid JWT: " + refusal.Msg)
	} else if e != nil {
		return nil, e
	}
	if !s.now().Before(g.ExpiresAt) {
		return nil, invalidToken("invalid JWT: the credential that registered its signing key has expired: register the key again")
	}
	if why := s.registrarGone(r.Context(), key); why != "" {
		return nil, invalidToken("invalid JWT: " + why + ": register the key again")
	}
	rc := "prod"
	if g.Environment == model.EnvSandbox {
		rc = "dev"
	}
	return &Credential{Type: model.CredentialJWT, ID: key.ID, Prefix: "jwt " + key.ID, User: u, Scopes: g.Scopes,
		ExpiresAt: g.ExpiresAt, Environment: g.Environment, CIDRs: g.CIDRs, Namespaces: g.Namespaces, RateClass: rc}, nil
}

// registrarGone says why the credential that registered k no longer stands
// ("" when it does): revoking an API key (or the end of its rotation grace)
// ends the JWT keys it registered, and with them their JWTs. Only root
// credentials register JWT keys, so this is one look-up; a key that a JWT
// registered (possible before that rule) is no longer honoured. A person's
// session is not followed: the key stays the person's.
func (s *Server) registrarGone(ctx context.Context, k *store.JWTKey) string {
	kind, id, _ := strings.Cut(k.RegisteredBy, ":")
	switch kind {
	case "key":
		ak, err := s.store.KeyByID(ctx, k.UserID, id)
		if err != nil || !ak.Usable(s.now()) {
			return "the API key that registered its signing key was revoked or has expired"
		}
	case "jwt":
		return "its signing key was registered with a JWT, which no longer registers keys"
	}
	return ""
}

// jwtKeyCeiling is the ceiling recorded with a JWT signing key.
func jwtKeyCeiling(k *store.JWTKey) policy.Ceiling {
	c := policy.Ceiling{Owner: k.UserID, Scopes: k.Scopes, Namespaces: k.Namespaces, CIDRs: k.CIDRs, Environment: k.Environment}
	if k.ExpiresAt != nil {
		c.ExpiresAt = *k.ExpiresAt
	}
	return c
}

func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fmt.Sprintf("aud must be %s", "this server's issuer URL")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or algorithm (RS256 only)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unknown key or issuer"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	}
	return "refused"
}
