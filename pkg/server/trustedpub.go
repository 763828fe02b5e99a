package server

// Trusted publishing, wired: the publishers API, the token endpoint's
// token-exchange grant (pkg/trustedpub verifies and matches), the replay
// guard over the store, and the exchanged token as a credential.
//
// The exchanged token acts for the user who registered the publisher: the
// scope's owner for a user-owned scope, an owner or admin of the
// organization for an organization's scope (docs/trusted-publishing.md). It
// works only while that user may still manage the publisher.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/policy"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// TrustedPublishing configures the token exchange; zero values take the
// defaults of pkg/trustedpub (audience codesync, GitHub's and GitLab's
// issuers, 15-minute tokens).
type TrustedPublishing struct {
	Audience       string
	TrustedIssuers []string
	TokenLifetime  time.Duration
	HTTPClient     *http.Client // fetches discovery documents and key sets
	// Disabled turns the token exchange off (server --trusted-issuers '').
	Disabled bool
}

// oidcTokenPrefix starts every exchanged token.
const oidcTokenPrefix = "cso_"

func (s *Server) trustedPubRoutes() {
	s.handle("GET /v1/trusted-publishers", s.auth("registry:read", s.listPublishers))
	s.handle("POST /v1/trusted-publishers", s.auth("registry:publish", s.addPublisher))
	s.handle("DELETE /v1/trusted-publishers/{id}", s.auth("registry:publish", s.removePublisher))
}

// newVerifier builds the server's verifier over the store's replay guard.
func (s *Server) newVerifier() (*trustedpub.Verifier, error) {
	tp := s.cfg.TrustedPublishing
	if tp.Disabled {
		return nil, nil
	}
	return trustedpub.NewVerifier(trustedpub.Config{
		Audience: tp.Audience, TrustedIssuers: tp.TrustedIssuers, TokenLifetime: tp.TokenLifetime,
		HTTPClient: tp.HTTPClient, Replay: storeReplay{s}, Now: s.now,
	})
}

// storeReplay is the replay guard: used jtis in the store (oidc_jtis), so a
// restart or a second server on the same database does not forget them.
// Purge deletes them once expired.
type storeReplay struct{ s *Server }

func (g storeReplay) Use(ctx context.Context, issuer, jti string, expiry time.Time) error {
	err := g.s.store.UseJTI(ctx, issuer, jti, expiry, g.s.now())
	if errors.Is(err, store.ErrReplayed) {
		return trustedpub.ErrReplayed
	}
	return err
}

func publisherOf(rec store.TrustedPublisher) (trustedpub.Publisher, error) {
	var p trustedpub.Publisher
	if err := json.Unmarshal(rec.Spec, &p); err != nil {
		return p, err
	}
	p.ID, p.CreatedAt = rec.ID, rec.CreatedAt
	return p, nil
}

// grantTokenExchange is POST /oauth/token with the token-exchange grant.
func (s *Server) grantTokenExchange(w http.ResponseWriter, r *http.Request, f url.Values) *apiError {
	if s.tp == nil {
		return oauthError(w, 400, "unsupported_grant_type", "trusted publishing is not enabled on this server")
	}
	creators := map[string]int64{}
	lookup := func(ctx context.Context, issuer string) ([]trustedpub.Publisher, error) {
		recs, err := s.store.TrustedPublishersOfIssuer(ctx, issuer)
		if err != nil {
			return nil, err
		}
		out := make([]trustedpub.Publisher, 0, len(recs))
		for _, rec := range recs {
			p, err := publisherOf(rec)
			if err != nil {
				return nil, err
			}
			creators[p.ID] = rec.CreatedBy
			out = append(out, p)
		}
		return out, nil
	}
	g, err := s.tp.ExchangeForm(r.Context(), f, lookup)
	if err != nil {
		var ref *trustedpub.Refusal
		if !errors.As(err, &ref) {
			return s.internal(err)
		}
		s.recordExchangeRefusal(r, ref)
		return s.answerRefusal(w, ref)
	}
	owner := creators[g.Publisher.ID]
	var ns []string
	for _, p := range g.Publishers {
		if creators[p.ID] != owner {
			continue // another user's publisher: its namespaces are not this token's
		}
		for _, n := range p.Namespaces {
			if !slices.Contains(ns, n) {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	u, err := s.store.UserByID(r.Context(), owner)
	if err != nil {
		return s.internal(err)
	}
	c := &Credential{Type: model.CredentialOIDC, ID: "oidc_" + token.RandomString(16), Prefix: oidcTokenPrefix, User: u,
		Scopes: trustedpub.GrantedScopes, ExpiresAt: g.ExpiresAt, Environment: s.cfg.Environment, Namespaces: ns, RateClass: "prod"}
	// the same ceiling rule as every other credential: the publisher's
	// ceiling (scopes, namespaces, expiry) and the organizations' rules
	grant, pe, e := s.checkCeiling(c, policy.Request{Grant: policy.Grant{Scopes: trustedpub.GrantedScopes, Namespaces: ns, ExpiresAt: g.ExpiresAt}})
	if e != nil && pe == nil {
		return e // the store failed, not the caller
	}
	if e != nil {
		ref := &trustedpub.Refusal{Reason: "ceiling", Detail: pe.Msg, Claims: &g.Claims}
		s.recordExchangeRefusal(r, ref)
		return s.answerRefusal(w, ref)
	}
	c.Scopes, c.Namespaces, c.ExpiresAt = grant.Scopes, grant.Namespaces, grant.ExpiresAt
	tok := oidcTokenPrefix + token.RandomString(40)
	claims, _ := json.Marshal(g.Claims)
	now := s.now()
	ip := remoteAddr(r).String()
	ev := &store.Event{UserID: &owner, Type: model.EventOIDCExchanged, Time: now, Actor: actorOf(&g.Claims), IP: &ip,
		Detail: fmt.Sprintf("publisher %s: %s; namespaces=%s scopes=%s expires=%s", g.Publisher.ID, claimsText(&g.Claims),
			strings.Join(c.Namespaces, ","), strings.Join(c.Scopes, ","), c.ExpiresAt.UTC().Format(time.RFC3339))}
	t := &store.OIDCToken{ID: c.ID, Hash: hashSecret(tok), UserID: owner, PublisherID: g.Publisher.ID, Scopes: c.Scopes,
		Namespaces: c.Namespaces, Claims: string(claims), CreatedAt: now, ExpiresAt: c.ExpiresAt}
	if err := s.store.SaveOIDCToken(r.Context(), t, ev); err != nil {
		return s.internal(err)
	}
	g.Scopes, g.Lifetime = c.Scopes, c.ExpiresAt.Sub(now).Round(time.Second)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, g.TokenResponse(tok))
	return nil
}

// answerRefusal: 400 invalid_grant (or invalid_request), 503 when the
// issuer or the store could not be reached. The description names the
// reason, never the token.
func (s *Server) answerRefusal(w http.ResponseWriter, ref *trustedpub.Refusal) *apiError {
	status, desc := http.StatusBadRequest, "trusted publishing refused the CI identity: "+string(ref.Reason)
	if ref.Temporary {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "10")
	}
	if ref.Reason == trustedpub.ReasonInvalidRequest {
		desc = ref.Detail
	}
	return oauthError(w, status, ref.OAuthError(), desc)
}

func actorOf(mc *trustedpub.MatchedClaims) string {
	if mc == nil {
		return "unverified CI identity"
	}
	if mc.Repository != "" {
		return mc.Repository
	}
	if mc.Subject != "" {
		return mc.Subject
	}
	return mc.Issuer
}

// claimsText is the audit event's account of who ran what.
func claimsText(mc *trustedpub.MatchedClaims) string {
	if mc == nil {
		return "claims unverified"
	}
	var parts []string
	for _, kv := range [][2]string{{"issuer", mc.Issuer}, {"repository", mc.Repository}, {"workflow", mc.Workflow}, {"ref", mc.Ref},
		{"environment", mc.Environment}, {"event", mc.EventName}, {"run_id", mc.RunID}, {"actor", mc.Actor}, {"sub", mc.Subject}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}

// recordExchangeRefusal writes oidc:refused: to the owners of the issuer's
// publishers of the same repository when the token's claims were verified
// (they see who tried), else as a server-wide event.
func (s *Server) recordExchangeRefusal(r *http.Request, ref *trustedpub.Refusal) {
	ip := remoteAddr(r).String()
	detail := fmt.Sprintf("refused (%s): %s; %s", ref.Reason, ref.Detail, claimsText(ref.Claims))
	var owners []int64
	if mc := ref.Claims; mc != nil && mc.Repository != "" {
		recs, _ := s.store.TrustedPublishersOfIssuer(r.Context(), mc.Issuer)
		for _, rec := range recs {
			if p, err := publisherOf(rec); err == nil && strings.EqualFold(p.Repository, mc.Repository) && !slices.Contains(owners, rec.CreatedBy) {
				owners = append(owners, rec.CreatedBy)
			}
		}
	}
	ev := func(uid *int64) *store.Event {
		return &store.Event{UserID: uid, Type: model.EventOIDCRefused, Time: s.now(), Actor: actorOf(ref.Claims), IP: &ip, Detail: detail}
	}
	if len(owners) == 0 {
		if err := s.store.AddEvent(r.Context(), ev(nil)); err != nil {
			s.cfg.Logger.Warn("recording a refused exchange failed", "error", err)
		}
	}
	for _, o := range owners {
		if err := s.store.AddEvent(r.Context(), ev(&o)); err != nil {
			s.cfg.Logger.Warn("recording a refused exchange failed", "error", err)
		}
	}
	s.cfg.Logger.Info("trusted publishing refused", "reason", string(ref.Reason), "issuer", issuerOf(ref.Claims))
}

func issuerOf(mc *trustedpub.MatchedClaims) string {
	if mc == nil {
		return ""
	}
	return mc.Issuer
}

// authOIDC checks an exchanged token. Removing its publisher ends it.
func (s *Server) authOIDC(r *http.Request, tok string) (*Credential, *apiError) {
	t, err := s.store.OIDCTokenByHash(r.Context(), hashSecret(tok))
	if err != nil {
		return nil, invalidToken("unknown trusted publishing token")
	}
	if !s.now().Before(t.ExpiresAt) {
		return nil, invalidToken("the trusted publishing token has expired: exchange a new ID token")
	}
	if _, err := s.store.TrustedPublisherByID(r.Context(), t.PublisherID); err != nil {
		return nil, invalidToken("the trusted publisher of this token was removed")
	}
	u, err := s.store.UserByID(r.Context(), t.UserID)
	if err != nil {
		return nil, invalidToken("unknown trusted publishing token")
	}
	return &Credential{Type: model.CredentialOIDC, ID: t.ID, Prefix: oidcTokenPrefix, User: u, Scopes: t.Scopes, ExpiresAt: t.ExpiresAt,
		Environment: s.cfg.Environment, Namespaces: t.Namespaces, RateClass: "prod"}, nil
}

// canManage: c's user may manage the publishers of scope: it owns the
// scope, or is an owner or admin of the organization that owns it. A scope
// the user cannot see at all is not_found.
func (s *Server) canManage(ctx context.Context, c *Credential, scope string) *apiError {
	orgID, userID, err := s.store.ScopeOwner(ctx, scope)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return forbidden("the npm scope %s has no owner yet: publish into it once with npm:scope:write, or claim it for an organization, before trusting a publisher", scope)
	case err != nil:
		return s.internal(err)
	case userID != 0 && userID == c.User.ID:
		return nil
	case userID != 0:
		return forbidden("the npm scope %s belongs to another user", scope)
	}
	role, err := s.store.MemberRole(ctx, orgID, c.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return forbidden("the npm scope %s belongs to an organization you are not a member of", scope)
	} else if err != nil {
		return s.internal(err)
	}
	if role != model.RoleOwner && role != model.RoleAdmin {
		return forbidden("only owners and admins of the organization that owns %s manage its trusted publishers (you are %s)", scope, withArticle(role))
	}
	return nil
}

func noTrustedPublishing() *apiError {
	return errf(http.StatusNotFound, "not_found", "trusted publishing is not enabled on this server")
}

func (s *Server) addPublisher(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	if c.Type == model.CredentialOIDC {
		return forbidden("a trusted publishing token cannot manage trusted publishers")
	}
	if s.tp == nil {
		return noTrustedPublishing()
	}
	var req model.TrustedPublisherRequest
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	p := trustedpub.Publisher{Namespaces: req.Namespaces, Provider: trustedpub.Provider(req.Provider), Issuer: req.Issuer,
		Repository: req.Repository, RepositoryID: req.RepositoryID, Workflow: req.Workflow, Environment: req.Environment, Ref: req.Ref, Claims: req.Claims}
	if err := p.Validate(s.tp.Config().TrustedIssuers); err != nil {
		return badRequest("%s", err)
	}
	scope, _, _ := strings.Cut(p.Namespaces[0], "/")
	for _, n := range p.Namespaces {
		if sc, _, _ := strings.Cut(n, "/"); sc != scope {
			return badRequest("a trusted publisher's namespaces lie in one npm scope: register one publisher per scope")
		}
	}
	if e := s.canManage(r.Context(), c, scope); e != nil {
		return e
	}
	// registering a publisher hands registry:publish and registry:read on
	// its namespaces to CI jobs: the caller must hold them itself
	if _, e := s.bound(r, c, policy.Request{Grant: policy.Grant{Scopes: trustedpub.GrantedScopes, Namespaces: p.Namespaces}}, "a trusted publisher"); e != nil {
		return e
	}
	now := s.now().Truncate(time.Second)
	p.ID, p.CreatedBy, p.CreatedAt = "tp_"+token.RandomString(12), c.User.Name, now
	spec, err := json.Marshal(p)
	if err != nil {
		return s.internal(err)
	}
	ip := remoteAddr(r).String()
	ev := &store.Event{UserID: &c.User.ID, Type: model.EventPublisherAdded, Time: now, Actor: c.User.Name, KeyID: c.keyID(), IP: &ip,
		Detail: fmt.Sprintf("trusted publisher %s for %s: %s", p.ID, strings.Join(p.Namespaces, ","), p.Describe())}
	if err := s.store.AddTrustedPublisher(r.Context(), &store.TrustedPublisher{ID: p.ID, Issuer: p.ExpectedIssuer(), Scope: scope, Spec: spec, CreatedBy: c.User.ID, CreatedAt: now}, ev); err != nil {
		return s.internal(err)
	}
	s.orgEventFor(r, scope, ev)
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// orgEventFor copies ev into the organization's log when an organization
// owns scope.
func (s *Server) orgEventFor(r *http.Request, scope string, ev *store.Event) {
	if orgID, _, err := s.store.ScopeOwner(r.Context(), scope); err == nil && orgID != 0 {
		if err := s.store.AddOrgEvent(r.Context(), orgID, ev); err != nil {
			s.cfg.Logger.Warn("recording an organization event failed", "error", err)
		}
	}
}

func (s *Server) listPublishers(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	recs, err := s.store.TrustedPublishersVisible(r.Context(), c.User.ID)
	if err != nil {
		return s.internal(err)
	}
	out := make([]trustedpub.Publisher, 0, len(recs))
	for _, rec := range recs {
		p, err := publisherOf(rec)
		if err != nil {
			return s.internal(err)
		}
		out = append(out, p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"trusted_publishers": out})
	return nil
}

func (s *Server) removePublisher(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	if c.Type == model.CredentialOIDC {
		return forbidden("a trusted publishing token cannot manage trusted publishers")
	}
	rec, err := s.store.TrustedPublisherByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("trusted publisher")
	} else if err != nil {
		return s.internal(err)
	}
	if e := s.canManage(r.Context(), c, rec.Scope); e != nil {
		// a publisher the caller cannot see is not_found, not forbidden
		vis, err := s.store.TrustedPublishersVisible(r.Context(), c.User.ID)
		if err != nil || !slices.ContainsFunc(vis, func(v store.TrustedPublisher) bool { return v.ID == rec.ID }) {
			return notFound("trusted publisher")
		}
		return e
	}
	p, _ := publisherOf(*rec)
	ip := remoteAddr(r).String()
	ev := &store.Event{UserID: &c.User.ID, Type: model.EventPublisherRemoved, Time: s.now(), Actor: c.User.Name, KeyID: c.keyID(), IP: &ip,
		Detail: fmt.Sprintf("trusted publisher %s for %s removed: %s", rec.ID, strings.Join(p.Namespaces, ","), p.Describe())}
	if err := s.store.RemoveTrustedPublisher(r.Context(), rec.ID, ev); errors.Is(err, store.ErrNotFound) {
		return notFound("trusted publisher")
	} else if err != nil {
		return s.internal(err)
	}
	s.orgEventFor(r, rec.Scope, ev)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
