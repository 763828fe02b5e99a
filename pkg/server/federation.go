package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/federation"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// Federation is federated sign-in (docs/federation.md): the identity
// providers and mapping rules of the server configuration file, and the
// sealer of upstream refresh tokens.
type Federation struct {
	Config    *federation.Config
	Providers *federation.Providers
	Sealer    *federation.TokenSealer
}

const (
	sessionCookie = "codesync_session"
	bindingCookie = "codesync_fed_binding"
	// webSessionTTL is how long the sign-in pages remember a federated
	// sign-in: long enough to approve, short enough not to linger.
	webSessionTTL = 15 * time.Minute
)

func (s *Server) fedRoutes() {
	s.handle("GET /auth/start/{id}", s.anonymous(s.authStart))
	s.handle("GET /auth/callback/{id}", s.anonymous(s.authCallback))
}

func (s *Server) provider(id string) federation.Provider {
	if s.cfg.Federation == nil || s.cfg.Federation.Providers == nil {
		return nil
	}
	return s.cfg.Federation.Providers.Get(id)
}

func (s *Server) secureCookies() bool { return strings.HasPrefix(s.cfg.Issuer, "https://") }

// providerLinks are the "Sign in with NAME" links of a sign-in page that
// comes back to ret.
func (s *Server) providerLinks(ret string) []providerLink {
	if s.cfg.Federation == nil || s.cfg.Federation.Providers == nil {
		return nil
	}
	var out []providerLink
	for _, p := range s.cfg.Federation.Providers.List() {
		out = append(out, providerLink{Name: p.Name(), URL: federation.StartPath(p.ID()) + "?" + url.Values{"return": {ret}}.Encode()})
	}
	return out
}

func (s *Server) authStart(w http.ResponseWriter, r *http.Request) *apiError {
	p := s.provider(r.PathValue("id"))
	if p == nil {
		s.page(w, http.StatusNotFound, pageData{Title: "Sign-in error", Error: "Unknown identity provider."})
		return nil
	}
	authURL, binding, err := s.flow.Start(r.Context(), p, r.URL.Query().Get("return"))
	if errors.Is(err, federation.ErrBadReturn) {
		s.page(w, http.StatusBadRequest, pageData{Title: "Sign-in error", Error: "The return address must be a page of this server."})
		return nil
	} else if err != nil {
		s.cfg.Logger.Warn("federated sign-in could not start", "provider", p.ID(), "error", err)
		s.page(w, http.StatusBadGateway, pageData{Title: "Sign-in error", Error: "The identity provider " + p.Name() + " cannot be reached. Try again later."})
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: bindingCookie, Value: binding, Path: "/auth/callback/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secureCookies(), MaxAge: int(federation.DefaultStateTTL.Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
	return nil
}

func (s *Server) authCallback(w http.ResponseWriter, r *http.Request) *apiError {
	id := r.PathValue("id")
	p := s.provider(id)
	if p == nil {
		s.page(w, http.StatusNotFound, pageData{Title: "Sign-in error", Error: "Unknown identity provider."})
		return nil
	}
	binding := ""
	if c, err := r.Cookie(bindingCookie); err == nil {
		binding = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: bindingCookie, Value: "", Path: "/auth/callback/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(), MaxAge: -1})
	ip := remoteAddr(r).String()
	res, err := s.flow.Callback(r.Context(), p, r.URL.Query(), binding)
	if err != nil {
		s.cfg.Logger.Warn("federated sign-in refused", "provider", id, "error", err)
		_ = s.store.AddEvent(r.Context(), &store.Event{Type: model.EventLoginFailed, Time: s.now(), Actor: "provider:" + id, IP: &ip, Detail: "federated sign-in refused: " + clip(err.Error(), 200)})
		msg := "The sign-in with " + p.Name() + " failed. Start again from the sign-in page."
		var ue *federation.UpstreamError
		if errors.As(err, &ue) && ue.Code == "access_denied" {
			msg = "The sign-in with " + p.Name() + " was cancelled."
		}
		s.page(w, http.StatusBadRequest, pageData{Title: "Sign-in error", Error: msg})
		return nil
	}
	u, e := s.federatedUser(r.Context(), res, ip)
	if e != "" {
		s.page(w, http.StatusForbidden, pageData{Title: "Sign-in error", Error: e})
		return nil
	}
	sess := token.RandomString(43)
	if err := s.store.SaveWebSession(r.Context(), hashSecret(sess), store.WebSession{UserID: u.ID, Provider: id, ExpiresAt: s.now().Add(webSessionTTL)}, s.now(),
		&store.Event{UserID: &u.ID, Type: model.EventLoginFederated, Time: s.now(), Actor: u.Name, IP: &ip, Detail: "signed in with " + id + " (subject " + clip(res.Identity.Subject, 100) + ")"}); err != nil {
		return s.internal(err)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(), MaxAge: int(webSessionTTL.Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, res.Return, http.StatusFound)
	return nil
}

// federatedUser finds the user linked to the upstream identity, or creates
// one (just in time); never by e-mail. It stores the sealed upstream
// credential and applies the mapping rules. It returns a message for the
// person when the sign-in is refused.
func (s *Server) federatedUser(ctx context.Context, res federation.CallbackResult, ip string) (*store.User, string) {
	idn := res.Identity
	fed := s.cfg.Federation
	sealed := ""
	if res.RefreshToken != "" {
		var err error
		if sealed, err = fed.Sealer.Seal(idn.Provider, idn.Subject, res.RefreshToken); err != nil {
			s.cfg.Logger.Error("sealing the upstream refresh token failed", "error", err)
			return nil, "Internal error."
		}
	}
	desired := fed.Config.Resolve(idn.Provider, idn.Groups)
	now := s.now()
	link := &store.Identity{Provider: idn.Provider, Subject: idn.Subject, RefreshSealed: sealed, ScopesLimited: desired.ScopesLimited, MaxScopes: desired.MaxScopes, CheckedAt: now, LinkedAt: now}
	var u *store.User
	existing, err := s.store.IdentityBySubject(ctx, idn.Provider, idn.Subject)
	switch {
	case err == nil:
		if u, err = s.store.UserByID(ctx, existing.UserID); err != nil {
			s.cfg.Logger.Error("linked user missing", "error", err)
			return nil, "Internal error."
		}
		if err := s.store.UpdateIdentity(ctx, link); err != nil {
			s.cfg.Logger.Error("updating the identity failed", "error", err)
			return nil, "Internal error."
		}
	case errors.Is(err, store.ErrNotFound):
		if u, err = s.createFederatedUser(ctx, idn, link, ip); err != nil {
			s.cfg.Logger.Error("creating the federated user failed", "error", err)
			return nil, "Internal error."
		}
	default:
		s.cfg.Logger.Error("looking up the identity failed", "error", err)
		return nil, "Internal error."
	}
	if u.Suspended {
		return nil, "This account is suspended."
	}
	s.syncMemberships(ctx, u, idn.Provider, desired, ip)
	return u, ""
}

// createFederatedUser creates the user of a first sign-in, named after the
// provider's user name when free, else with a numbered suffix.
func (s *Server) createFederatedUser(ctx context.Context, idn federation.Identity, link *store.Identity, ip string) (*store.User, error) {
	base := userNameFrom(idn.Username)
	if base == "" {
		base = userNameFrom(idn.Provider + "-" + idn.Subject)
	}
	now := s.now()
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			name = clip(base, 58) + "-" + fmt.Sprint(i)
		}
		u, err := s.store.CreateFederatedUser(ctx, name, HashPassword(token.RandomString(32)), link, now, func(uid int64) []*store.Event {
			return []*store.Event{{UserID: &uid, Type: model.EventIdentityLinked, Time: now, Actor: name, IP: &ip,
				Detail: "user created at the first sign-in with " + idn.Provider + ", linked to subject " + clip(idn.Subject, 100)}}
		})
		if errors.Is(err, store.ErrExists) {
			if existing, lerr := s.store.IdentityBySubject(ctx, idn.Provider, idn.Subject); lerr == nil {
				return s.store.UserByID(ctx, existing.UserID) // a concurrent first sign-in linked it meanwhile
			}
			continue // the name is taken: try the next number
		}
		return u, err
	}
	return nil, errors.New("no free user name for " + base)
}

// userNameFrom keeps the characters a user name may hold.
func userNameFrom(v string) string {
	v = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		if r == '@' || r == ' ' || r == '/' {
			return '-'
		}
		return -1
	}, v)
	return clip(strings.Trim(v, "-."), 64)
}

// syncMemberships brings the memberships the provider's rules made in line
// with desired (federation.Diff): only memberships with this provider as
// their source are changed or removed. Each change is membership:synced in
// the user's and the organization's log. An organization that does not
// exist is skipped (logged).
func (s *Server) syncMemberships(ctx context.Context, u *store.User, providerID string, desired federation.Desired, ip string) {
	cur, err := s.store.MembershipsOfUser(ctx, u.ID)
	if err != nil {
		s.cfg.Logger.Error("reading memberships failed", "error", err)
		return
	}
	var current []federation.Membership
	for _, m := range cur {
		current = append(current, federation.Membership{Org: m.Org, Role: federation.Role(m.Role), Source: m.Source})
	}
	now := s.now()
	for _, ch := range federation.Diff(providerID, current, desired) {
		o, err := s.store.OrgBySlug(ctx, ch.Org)
		if err != nil {
			s.cfg.Logger.Warn("mapping names an organization that does not exist", "provider", providerID, "org", ch.Org)
			continue
		}
		ev := func(typ, detail string) *store.Event {
			return &store.Event{UserID: &u.ID, Type: typ, Time: now, Actor: u.Name, IP: &ip, Detail: detail}
		}
		switch ch.Kind {
		case federation.ChangeAdd:
			err = s.store.AddSourcedMember(ctx, o.ID, u.ID, string(ch.Role), providerID, now,
				ev(model.EventMembershipSynced, fmt.Sprintf("added to %s as %s by the %s mapping", ch.Org, ch.Role, providerID)))
		case federation.ChangeRole:
			_, err = s.store.SetRole(ctx, o.ID, u.ID, string(ch.Role),
				ev(model.EventMembershipSynced, fmt.Sprintf("role in %s changed from %s to %s by the %s mapping", ch.Org, ch.OldRole, ch.Role, providerID)))
		case federation.ChangeRemove:
			_, err = s.store.RemoveMember(ctx, o.ID, u.ID, now, func(typ string, keyID *string, detail string) *store.Event {
				e := ev(typ, detail)
				e.KeyID = keyID
				if typ == model.EventMemberRemoved {
					e.Type = model.EventMembershipSynced
					e.Detail = fmt.Sprintf("removed from %s by the %s mapping (no longer in a mapped group)", ch.Org, providerID)
				}
				return e
			})
		}
		if err != nil {
			s.cfg.Logger.Warn("applying a mapping change failed", "provider", providerID, "org", ch.Org, "change", string(ch.Kind), "error", err)
		}
	}
}

// pageSession is the user signed in on the sign-in pages through a
// provider (session cookie), or nil.
func (s *Server) pageSession(r *http.Request) (*store.User, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || s.cfg.Federation == nil {
		return nil, ""
	}
	ws, err := s.store.WebSessionByHash(r.Context(), hashSecret(c.Value), s.now())
	if err != nil {
		return nil, ""
	}
	u, err := s.store.UserByID(r.Context(), ws.UserID)
	if err != nil || u.Suspended {
		return nil, ""
	}
	return u, ws.Provider
}

// errFederated is a federated session that may not continue: the CodeSync
// refresh answers invalid_grant with this message.
type errFederated struct{ msg string }

func (e *errFederated) Error() string { return e.msg }

// sessionLimit is the scope ceiling of an OAuth session (token family):
// the provider it came from and that identity's max_scopes. A local
// session has none.
type sessionLimit struct {
	Provider string
	Limited  bool
	Scopes   []string
}

func (l sessionLimit) narrow(scopes []string) []string {
	if !l.Limited {
		return scopes
	}
	out := []string{}
	for _, sc := range scopes {
		if slices.Contains(l.Scopes, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// limitOf looks up the session's provider and ceiling. An identity unlinked
// since (or a provider no longer configured) ends the session.
func (s *Server) limitOf(ctx context.Context, userID int64, family string) (sessionLimit, error) {
	p, err := s.store.SessionProvider(ctx, family)
	if err != nil || p == "" {
		return sessionLimit{}, err
	}
	idn, err := s.store.IdentityOfUser(ctx, userID, p)
	if errors.Is(err, store.ErrNotFound) {
		return sessionLimit{Provider: p, Limited: true, Scopes: []string{}}, &errFederated{"the identity this session came from was unlinked: log in again"}
	} else if err != nil {
		return sessionLimit{}, err
	}
	return sessionLimit{Provider: p, Limited: idn.ScopesLimited, Scopes: idn.MaxScopes}, nil
}

// recheck runs at the refresh of a federated session: when the provider's
// recheck interval has passed, it asks the provider again with the kept
// upstream credential and applies the mapping again. A refusal upstream
// (disabled account, revoked token) is an errFederated.
func (s *Server) recheck(ctx context.Context, userID int64, family, ip string) (sessionLimit, error) {
	lim, err := s.limitOf(ctx, userID, family)
	if err != nil || lim.Provider == "" {
		return lim, err
	}
	p := s.provider(lim.Provider)
	if p == nil {
		return lim, &errFederated{"the identity provider " + lim.Provider + " is no longer configured: log in again"}
	}
	s.fedMu.Lock()
	defer s.fedMu.Unlock()
	idn, err := s.store.IdentityOfUser(ctx, userID, lim.Provider)
	if err != nil {
		return lim, &errFederated{"the identity this session came from was unlinked: log in again"}
	}
	now := s.now()
	if now.Sub(idn.CheckedAt) < p.RecheckInterval() {
		return lim, nil
	}
	fed := s.cfg.Federation
	if idn.RefreshSealed == "" {
		return lim, &errFederated{"the identity provider gave no refresh credential: log in again"}
	}
	rt, err := fed.Sealer.Open(idn.Provider, idn.Subject, idn.RefreshSealed)
	if err != nil {
		s.cfg.Logger.Error("opening the sealed upstream refresh token failed", "provider", idn.Provider, "error", err)
		return lim, &errFederated{"the identity provider's credential cannot be read: log in again"}
	}
	fresh, newRT, err := p.Recheck(ctx, idn.Subject, rt)
	if err != nil {
		s.cfg.Logger.Warn("federated re-check refused", "provider", idn.Provider, "error", err)
		return lim, &errFederated{"the identity provider " + p.Name() + " no longer accepts this account: log in again"}
	}
	desired := fed.Config.Resolve(idn.Provider, fresh.Groups)
	idn.CheckedAt, idn.ScopesLimited, idn.MaxScopes = now, desired.ScopesLimited, desired.MaxScopes
	if newRT != "" {
		if idn.RefreshSealed, err = fed.Sealer.Seal(idn.Provider, idn.Subject, newRT); err != nil {
			return lim, err
		}
	}
	if err := s.store.UpdateIdentity(ctx, idn); err != nil {
		return lim, err
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return lim, err
	}
	s.syncMemberships(ctx, u, idn.Provider, desired, ip)
	return sessionLimit{Provider: idn.Provider, Limited: desired.ScopesLimited, Scopes: desired.MaxScopes}, nil
}

// signInPage fills the sign-in parts of a page that comes back to ret: the
// provider links, the person signed in through a provider, and whether the
// password form is offered.
func (s *Server) signInPage(r *http.Request, d *pageData, ret string) (*store.User, string) {
	d.LocalLogin = !s.cfg.DisableLocalLogin
	d.Providers = s.providerLinks(ret)
	u, provider := s.pageSession(r)
	if u != nil {
		d.SignedInAs = u.Name
		d.SignedInWith = provider
		if p := s.provider(provider); p != nil {
			d.SignedInWith = p.Name()
		}
	}
	return u, provider
}

// pageUser is who approves or denies on a sign-in page: the person signed
// in through a provider, else the local user name and password of the form
// (unless --disable-local-login).
func (s *Server) pageUser(r *http.Request, fu *store.User) (*store.User, string) {
	if fu != nil {
		return fu, ""
	}
	if s.cfg.DisableLocalLogin {
		return nil, "Sign in with your identity provider first."
	}
	return s.signIn(r, r.PostForm.Get("username"), r.PostForm.Get("password"))
}

// pageScopes are the scopes a page shows: for a person signed in through a
// provider, those within the mapping's max_scopes.
func (s *Server) pageScopes(r *http.Request, fu *store.User, provider string, scopes []string) []string {
	if fu == nil || provider == "" {
		return scopes
	}
	idn, err := s.store.IdentityOfUser(r.Context(), fu.ID, provider)
	if err != nil {
		return scopes
	}
	return sessionLimit{Provider: provider, Limited: idn.ScopesLimited, Scopes: idn.MaxScopes}.narrow(scopes)
}
