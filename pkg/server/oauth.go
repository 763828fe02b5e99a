package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// The authorization server of SPEC §4, written on net/http: fosite offers no
// device grant in a served version, and zitadel's op accepts plain PKCE and
// leaves refresh rotation and reuse detection to the storage anyway.

// CLIClientID is the one public client.
const CLIClientID = "codesync-cli"

const (
	deviceCodeTTL = 10 * time.Minute
	authCodeTTL   = 60 * time.Second
	userCodeChars = "BCDFGHJKLMNPQRSTVWXZ"
	grantDevice   = "urn:ietf:params:oauth:grant-type:device_code"
)

func (s *Server) oauthRoutes() {
	s.handle("GET /.well-known/oauth-authorization-server", s.anonymous(s.metadata))
	s.handle("POST /oauth/device/code", s.anonymous(s.deviceAuthorize))
	s.handle("GET /device", s.anonymous(s.devicePage))
	s.handle("POST /device", s.anonymous(s.devicePage))
	s.handle("GET /oauth/authorize", s.anonymous(s.authorizePage))
	s.handle("POST /oauth/authorize", s.anonymous(s.authorizePage))
	s.handle("POST /oauth/token", s.anonymous(s.tokenEndpoint))
	s.handle("POST /oauth/revoke", s.anonymous(s.revokeEndpoint))
	s.handle("POST /oauth/introspect", s.anonymous(s.introspect))
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) *apiError {
	iss := s.cfg.Issuer
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/oauth/authorize",
		"token_endpoint":                        iss + "/oauth/token",
		"device_authorization_endpoint":         iss + "/oauth/device/code",
		"revocation_endpoint":                   iss + "/oauth/revoke",
		"introspection_endpoint":                iss + "/oauth/introspect",
		"scopes_supported":                      keyrules.Scopes,
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 s.grantTypes(),
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		// RFC 9207: every authorization response names the issuer
		"authorization_response_iss_parameter_supported": true,
	})
	return nil
}

// grantTypes of the metadata: the token exchange when trusted publishing is on.
func (s *Server) grantTypes() []string {
	g := []string{"authorization_code", grantDevice, "refresh_token"}
	if s.tp != nil {
		g = append(g, trustedpub.GrantTypeTokenExchange)
	}
	return g
}

// oauthError is the token endpoint's error shape (RFC 6749 §5.2).
func oauthError(w http.ResponseWriter, status int, code, desc string) *apiError {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, model.Error{Error: code, Description: desc})
	return nil
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func parseScopeParam(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return []string{"keys:read", "keys:write", "audit:read", "registry:read"}, nil
	}
	return keyrules.CheckScopes(strings.Fields(v))
}

func (s *Server) deviceAuthorize(w http.ResponseWriter, r *http.Request) *apiError {
	if err := r.ParseForm(); err != nil {
		return oauthError(w, 400, "invalid_request", "malformed form body")
	}
	if r.PostForm.Get("client_id") != CLIClientID {
		return oauthError(w, 401, "invalid_client", "unknown client")
	}
	scopes, err := parseScopeParam(r.PostForm.Get("scope"))
	if err != nil {
		return oauthError(w, 400, "invalid_scope", err.Error())
	}
	device := token.RandomString(43) // > 128 bits
	var userCode string
	for {
		userCode = randomUserCode()
		if _, err := s.store.DeviceByUserCode(r.Context(), userCode); errors.Is(err, store.ErrNotFound) {
			break
		}
	}
	now := s.now()
	d := &store.DeviceCode{Hash: hashSecret(device), UserCode: userCode, ClientID: CLIClientID, Scopes: scopes,
		ExpiresAt: now.Add(deviceCodeTTL), Interval: int64(s.deviceInterval().Seconds())}
	if err := s.store.SaveDevice(r.Context(), d); err != nil {
		return s.internal(err)
	}
	display := userCode[:4] + "-" + userCode[4:]
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code": device, "user_code": display,
		"verification_uri":          s.cfg.Issuer + "/device",
		"verification_uri_complete": s.cfg.Issuer + "/device?user_code=" + display,
		"expires_in":                int(deviceCodeTTL.Seconds()), "interval": d.Interval,
	})
	return nil
}

func (s *Server) deviceInterval() time.Duration {
	if s.cfg.DeviceInterval > 0 {
		return s.cfg.DeviceInterval
	}
	return 5 * time.Second
}

func randomUserCode() string {
	b := make([]byte, 8)
	r := token.RandomString(8) // base62 randomness, mapped onto the 20-letter alphabet
	for i := range b {
		b[i] = userCodeChars[strings.IndexByte(token.Alphabet, r[i])%len(userCodeChars)]
	}
	return string(b)
}

// normalizeUserCode accepts any case, with or without the dash.
func normalizeUserCode(v string) string {
	v = strings.ToUpper(v)
	v = strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, v)
	return v
}

func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) *apiError {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return oauthError(w, 400, "invalid_request", "malformed form body")
	}
	f := r.PostForm
	// RFC 8693: the CI job's ID token is the client's credential; any
	// tool may ask, so no client_id is required
	if trustedpub.IsTokenExchange(f) {
		return s.grantTokenExchange(w, r, f)
	}
	if f.Get("client_id") != CLIClientID {
		return oauthError(w, 401, "invalid_client", "unknown client")
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		return s.grantCode(w, r, f)
	case grantDevice:
		return s.grantDevice(w, r, f)
	case "refresh_token":
		return s.grantRefresh(w, r, f)
	}
	return oauthError(w, 400, "unsupported_grant_type", "grant_type must be authorization_code, device_code, refresh_token or token-exchange")
}

// issue stores and returns a new token pair of family.
func (s *Server) newPair(userID int64, family string, scopes []string) (access, refresh *store.OAuthToken, at, rt string) {
	now := s.now()
	at, rt = "csa_"+token.RandomString(40), "csr_"+token.RandomString(40)
	access = &store.OAuthToken{ID: "tok_" + token.RandomString(16), FamilyID: family, UserID: userID, Kind: "access", Hash: hashSecret(at), Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(s.cfg.AccessTokenTTL)}
	refresh = &store.OAuthToken{ID: "tok_" + token.RandomString(16), FamilyID: family, UserID: userID, Kind: "refresh", Hash: hashSecret(rt), Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL)}
	return
}

func (s *Server) writeTokens(w http.ResponseWriter, at, rt string, scopes []string) *apiError {
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": int(s.cfg.AccessTokenTTL.Seconds()),
		"refresh_token": rt, "scope": strings.Join(scopes, " "),
	})
	return nil
}

func (s *Server) issueNew(w http.ResponseWriter, r *http.Request, userID int64, scopes []string, family, how string) *apiError {
	// a federated session grants no scope beyond its mapping's max_scopes
	lim, err := s.limitOf(r.Context(), userID, family)
	var fe *errFederated
	if errors.As(err, &fe) {
		return oauthError(w, 400, "invalid_grant", fe.msg)
	} else if err != nil {
		return s.internal(err)
	}
	scopes = lim.narrow(scopes)
	if lim.Provider != "" {
		how += " with " + lim.Provider
	}
	access, refresh, at, rt := s.newPair(userID, family, scopes)
	u, err := s.store.UserByID(r.Context(), userID)
	if err != nil {
		return s.internal(err)
	}
	ip := remoteAddr(r).String()
	ev := &store.Event{UserID: &userID, Type: model.EventTokenCreated, Time: s.now(), Actor: u.Name, IP: &ip, Detail: "oauth session (" + how + ") scopes=" + strings.Join(scopes, ",")}
	if err := s.store.IssueTokens(r.Context(), access, refresh, ev); err != nil {
		return s.internal(err)
	}
	return s.writeTokens(w, at, rt, scopes)
}

func pkceS256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (s *Server) grantCode(w http.ResponseWriter, r *http.Request, f url.Values) *apiError {
	code, verifier := f.Get("code"), f.Get("code_verifier")
	if code == "" || verifier == "" {
		return oauthError(w, 400, "invalid_request", "code and code_verifier are required (PKCE S256)")
	}
	c, err := s.store.SpendCode(r.Context(), hashSecret(code), s.now())
	switch {
	case errors.Is(err, store.ErrReused):
		return oauthError(w, 400, "invalid_grant", "the authorization code was already used; the tokens it issued are revoked")
	case errors.Is(err, store.ErrNotFound):
		return oauthError(w, 400, "invalid_grant", "unknown authorization code")
	case err != nil:
		return s.internal(err)
	}
	if !s.now().Before(c.ExpiresAt) {
		return oauthError(w, 400, "invalid_grant", "the authorization code has expired")
	}
	if c.RedirectURI != f.Get("redirect_uri") || c.ClientID != f.Get("client_id") {
		return oauthError(w, 400, "invalid_grant", "redirect_uri or client_id does not match the authorization request")
	}
	if subtle.ConstantTimeCompare([]byte(pkceS256(verifier)), []byte(c.Challenge)) != 1 {
		return oauthError(w, 400, "invalid_grant", "code_verifier does not match the code_challenge")
	}
	return s.issueNew(w, r, c.UserID, c.Scopes, c.FamilyID, "browser")
}

func (s *Server) grantDevice(w http.ResponseWriter, r *http.Request, f url.Values) *apiError {
	h := hashSecret(f.Get("device_code"))
	now := s.now()
	var outcome string
	d, err := s.store.PollDevice(r.Context(), h, now, func(d *store.DeviceCode) (bool, bool) {
		switch {
		case !now.Before(d.ExpiresAt):
			outcome = "expired_token"
		case d.Status == "denied":
			outcome = "access_denied"
		case d.Status == "consumed":
			outcome = "invalid_grant"
		case now.Sub(d.LastPoll) < time.Duration(d.Interval)*time.Second:
			outcome = "slow_down"
			return true, false
		case d.Status == "approved":
			outcome = "ok"
			return false, true
		default:
			outcome = "authorization_pending"
		}
		return false, false
	})
	if errors.Is(err, store.ErrNotFound) {
		return oauthError(w, 400, "invalid_grant", "unknown device code")
	} else if err != nil {
		return s.internal(err)
	}
	switch outcome {
	case "ok":
		family := "fam_" + token.RandomString(16)
		if p, err := s.store.SessionProvider(r.Context(), "device:"+d.UserCode); err != nil {
			return s.internal(err)
		} else if p != "" {
			if err := s.store.SetSessionProvider(r.Context(), family, p, now); err != nil {
				return s.internal(err)
			}
		}
		return s.issueNew(w, r, *d.UserID, d.Scopes, family, "device")
	case "slow_down":
		return oauthError(w, 400, "slow_down", fmt.Sprintf("polling too fast: wait at least %d s between polls", d.Interval+5))
	case "authorization_pending":
		return oauthError(w, 400, outcome, "the user has not approved yet")
	case "access_denied":
		return oauthError(w, 400, outcome, "the user denied the request")
	case "expired_token":
		return oauthError(w, 400, outcome, "the device code has expired: start again")
	}
	return oauthError(w, 400, "invalid_grant", "the device code was already used")
}

func (s *Server) grantRefresh(w http.ResponseWriter, r *http.Request, f url.Values) *apiError {
	h := hashSecret(f.Get("refresh_token"))
	if req := f.Get("scope"); req != "" {
		// a refresh may narrow the scopes, never widen them: asking for more
		// is an error (RFC 6749 §6), not silently the old scopes
		asked, err := keyrules.CheckScopes(strings.Fields(req))
		if err != nil {
			return oauthError(w, 400, "invalid_scope", err.Error())
		}
		if old, err := s.store.TokenByHash(r.Context(), h); err == nil && old.Kind == "refresh" && !scopesSubset(asked, old.Scopes) {
			return oauthError(w, 400, "invalid_scope", "a refresh may narrow the session's scopes, never widen them: sign in again to get more")
		}
	}
	// a federated session asks its identity provider again first (when
	// the provider's recheck interval has passed): refused there, refused here
	var lim sessionLimit
	if old, err := s.store.TokenByHash(r.Context(), h); err == nil && old.Kind == "refresh" && old.UsedAt == nil && old.RevokedAt == nil && s.now().Before(old.ExpiresAt) {
		var fe *errFederated
		ip := remoteAddr(r).String()
		lim, err = s.recheck(r.Context(), old.UserID, old.FamilyID, ip)
		if errors.As(err, &fe) {
			_ = s.store.RevokeFamily(r.Context(), old.FamilyID, s.now(), &store.Event{UserID: &old.UserID, Type: model.EventTokenRevoked, Time: s.now(), Actor: "provider:" + lim.Provider, IP: &ip, Detail: "oauth session revoked: " + fe.msg})
			return oauthError(w, 400, "invalid_grant", fe.msg)
		} else if err != nil {
			return s.internal(err)
		}
	}
	var at, rt string
	var scopes []string
	access, _, err := s.store.RotateRefresh(r.Context(), h, s.now(), func(old *store.OAuthToken) (*store.OAuthToken, *store.OAuthToken) {
		scopes = lim.narrow(old.Scopes)
		if req := f.Get("scope"); req != "" {
			// a refresh may narrow the scopes, never widen them
			if asked, err := keyrules.CheckScopes(strings.Fields(req)); err == nil && scopesSubset(asked, scopes) {
				scopes = asked
			}
		}
		a, rf, a1, r1 := s.newPair(old.UserID, old.FamilyID, scopes)
		at, rt = a1, r1
		return a, rf
	})
	switch {
	case errors.Is(err, store.ErrReused):
		s.cfg.Logger.Warn("refresh token reuse: family revoked")
		return oauthError(w, 400, "invalid_grant", "this refresh token was already used: the whole session is revoked, log in again")
	case errors.Is(err, store.ErrNotFound):
		return oauthError(w, 400, "invalid_grant", "unknown, expired or revoked refresh token")
	case err != nil:
		return s.internal(err)
	}
	if u, err := s.store.UserByID(r.Context(), access.UserID); err == nil && u.Suspended {
		return oauthError(w, 400, "invalid_grant", "the account is suspended")
	}
	s.refreshes.Add(1)
	return s.writeTokens(w, at, rt, scopes)
}

// Refreshes counts refresh grants served (tests: N processes, one refresh).
func (s *Server) Refreshes() int64 { return s.refreshes.Load() }

func (s *Server) revokeEndpoint(w http.ResponseWriter, r *http.Request) *apiError {
	if err := r.ParseForm(); err != nil {
		return oauthError(w, 400, "invalid_request", "malformed form body")
	}
	// RFC 7009: unknown tokens are answered 200 all the same
	if t, err := s.store.TokenByHash(r.Context(), hashSecret(r.PostForm.Get("token"))); err == nil {
		ip := remoteAddr(r).String()
		u, _ := s.store.UserByID(r.Context(), t.UserID)
		name := ""
		if u != nil {
			name = u.Name
		}
		_ = s.store.RevokeFamily(r.Context(), t.FamilyID, s.now(), &store.Event{UserID: &t.UserID, Type: model.EventTokenRevoked, Time: s.now(), Actor: name, IP: &ip, Detail: "oauth session revoked (logout)"})
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) *apiError {
	if err := r.ParseForm(); err != nil {
		return oauthError(w, 400, "invalid_request", "malformed form body")
	}
	t, err := s.store.TokenByHash(r.Context(), hashSecret(r.PostForm.Get("token")))
	now := s.now()
	if err != nil || t.RevokedAt != nil || t.UsedAt != nil || !now.Before(t.ExpiresAt) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return nil
	}
	u, _ := s.store.UserByID(r.Context(), t.UserID)
	name := ""
	if u != nil {
		name = u.Name
	}
	out := map[string]any{"active": true, "scope": strings.Join(t.Scopes, " "), "client_id": CLIClientID,
		"username": name, "token_type": t.Kind + "_token", "exp": t.ExpiresAt.Unix(), "iat": t.CreatedAt.Unix(), "sub": name, "iss": s.cfg.Issuer}
	if p, _ := s.store.SessionProvider(r.Context(), t.FamilyID); p != "" {
		out["provider"] = p // the identity provider the session came from
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// authOAuth checks an OAuth access token.
func (s *Server) authOAuth(r *http.Request, tok string) (*Credential, *apiError) {
	if !strings.HasPrefix(tok, "csa_") {
		return nil, invalidToken("unknown credential")
	}
	t, err := s.store.TokenByHash(r.Context(), hashSecret(tok))
	if err != nil || t.Kind != "access" {
		return nil, invalidToken("unknown access token")
	}
	if t.RevokedAt != nil {
		return nil, invalidToken("the session was revoked: log in again")
	}
	if !s.now().Before(t.ExpiresAt) {
		return nil, invalidToken("the access token has expired")
	}
	u, err := s.store.UserByID(r.Context(), t.UserID)
	if err != nil {
		return nil, invalidToken("unknown access token")
	}
	lim, err := s.limitOf(r.Context(), u.ID, t.FamilyID)
	var fe *errFederated
	if errors.As(err, &fe) {
		return nil, invalidToken(fe.msg)
	} else if err != nil {
		return nil, s.internal(err)
	}
	return &Credential{Type: model.CredentialOAuth, ID: t.ID, Prefix: "csa_", User: u, Scopes: t.Scopes, ExpiresAt: t.ExpiresAt,
		Environment: s.cfg.Environment, RateClass: "prod", Family: t.FamilyID, Provider: lim.Provider, limit: lim}, nil
}

// signInThrottle counts failed sign-ins per user and per network (/24 or
// /64) over 15 minutes; 5 failures lock either out until the window passes.
// It keeps at most maxThrottled keys, dropping the one that failed longest
// ago when full: never all of them, so junk names cannot wipe a lockout.
type signInThrottle struct {
	mu   sync.Mutex
	fail *lru[[]time.Time]
}

const (
	signInWindow   = 15 * time.Minute
	signInFailures = 5
	maxThrottled   = 50_000
)

func (t *signInThrottle) blocked(now time.Time, keys ...string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail == nil {
		return false
	}
	for _, k := range keys {
		n := 0
		l, _ := t.fail.get(k)
		for _, at := range l {
			if now.Sub(at) < signInWindow {
				n++
			}
		}
		if n >= signInFailures {
			return true
		}
	}
	return false
}

func (t *signInThrottle) failed(now time.Time, keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail == nil {
		t.fail = newLRU[[]time.Time](maxThrottled)
	}
	for _, k := range keys {
		l, _ := t.fail.get(k)
		kept := make([]time.Time, 0, len(l)+1)
		for _, at := range l {
			if now.Sub(at) < signInWindow {
				kept = append(kept, at)
			}
		}
		kept = append(kept, now)
		if len(kept) > signInFailures { // the latest few decide; older ones only cost memory
			kept = kept[len(kept)-signInFailures:]
		}
		t.fail.put(k, kept)
	}
}

// signIn checks a username and password, counting and throttling failures.
// Unknown users cost the same argon2 work as known ones.
func (s *Server) signIn(r *http.Request, username, password string) (*store.User, string) {
	now := s.now()
	ip := remoteAddr(r).String()
	keys := []string{"user:" + clip(username, 64), "ip:" + netPrefix(remoteAddr(r))}
	if s.throttle.blocked(now, keys...) {
		return nil, "Too many failed sign-ins. Wait 15 minutes and try again."
	}
	u, err := s.store.UserByName(r.Context(), username)
	hash := dummyHash()
	if err == nil {
		hash = u.PasswordHash
	}
	ok := CheckPassword(hash, password)
	if err != nil || !ok || u.Suspended {
		s.throttle.failed(now, keys...)
		var uid *int64
		if u != nil {
			uid = &u.ID
		}
		_ = s.store.AddEvent(r.Context(), &store.Event{UserID: uid, Type: model.EventLoginFailed, Time: now, Actor: clip(username, 64), IP: &ip, Detail: "wrong user name or password"})
		if err == nil && ok && u.Suspended {
			return nil, "This account is suspended."
		}
		return nil, "Wrong user name or password."
	}
	_ = s.store.AddEvent(r.Context(), &store.Event{UserID: &u.ID, Type: model.EventLoginSucceeded, Time: now, Actor: u.Name, IP: &ip, Detail: "signed in to " + r.URL.Path})
	return u, ""
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

var dummyHash = sync.OnceValue(func() string { return HashPassword("codesync-dummy-password") })

// validRedirect: only loopback http redirect URIs, any port (RFC 8252 §7.3).
func validRedirect(v string) bool {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) authorizeParams(q url.Values) (scopes []string, errPage string, redirectErr string) {
	if q.Get("client_id") != CLIClientID {
		return nil, "Unknown client.", ""
	}
	if !validRedirect(q.Get("redirect_uri")) {
		return nil, "The redirect URI must be a loopback address (http://127.0.0.1:PORT/…).", ""
	}
	if q.Get("response_type") != "code" {
		return nil, "", "unsupported_response_type"
	}
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43 {
		return nil, "", "invalid_request" // PKCE S256 is required; plain is refused
	}
	sc, err := parseScopeParam(q.Get("scope"))
	if err != nil {
		return nil, "", "invalid_scope"
	}
	return sc, "", ""
}

func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, _ := url.Parse(redirectURI)
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Server) authorizePage(w http.ResponseWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	scopes, errPage, redirectErr := s.authorizeParams(q)
	if errPage != "" {
		s.page(w, http.StatusBadRequest, pageData{Title: "Sign-in error", Error: errPage})
		return nil
	}
	if redirectErr != "" {
		redirectWith(w, r, q.Get("redirect_uri"), url.Values{"error": {redirectErr}, "state": {q.Get("state")}, "iss": {s.cfg.Issuer}})
		return nil
	}
	data := pageData{Title: "Authorize codesync-cli", Client: CLIClientID, Scopes: scopes, Action: r.URL.RequestURI()}
	fu, provider := s.signInPage(r, &data, r.URL.RequestURI())
	if r.Method == http.MethodGet {
		s.formPage(w, data)
		return nil
	}
	if e := s.checkForm(w, r); e != "" {
		data.Error = e
		s.formPage(w, data)
		return nil
	}
	if r.PostForm.Get("action") == "deny" {
		redirectWith(w, r, q.Get("redirect_uri"), url.Values{"error": {"access_denied"}, "state": {q.Get("state")}, "iss": {s.cfg.Issuer}})
		return nil
	}
	u, msg := s.pageUser(r, fu)
	if u == nil {
		data.Error, data.Username = msg, r.PostForm.Get("username")
		s.formPage(w, data)
		return nil
	}
	code := token.RandomString(43)
	c := &store.AuthCode{Hash: hashSecret(code), UserID: u.ID, ClientID: CLIClientID, RedirectURI: q.Get("redirect_uri"),
		Challenge: q.Get("code_challenge"), Scopes: scopes, ExpiresAt: s.now().Add(authCodeTTL), FamilyID: "fam_" + token.RandomString(16)}
	if err := s.store.SaveCode(r.Context(), c); err != nil {
		return s.internal(err)
	}
	if provider != "" {
		if err := s.store.SetSessionProvider(r.Context(), c.FamilyID, provider, s.now()); err != nil {
			return s.internal(err)
		}
	}
	redirectWith(w, r, q.Get("redirect_uri"), url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {s.cfg.Issuer}})
	return nil
}

func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) *apiError {
	data := pageData{Title: "Connect a device", Client: CLIClientID, Device: true, Action: "/device", UserCode: r.URL.Query().Get("user_code")}
	ret := "/device"
	if data.UserCode != "" {
		ret += "?" + url.Values{"user_code": {data.UserCode}}.Encode()
	}
	fu, provider := s.signInPage(r, &data, ret)
	if d, err := s.store.DeviceByUserCode(r.Context(), normalizeUserCode(data.UserCode)); err == nil {
		data.Scopes = s.pageScopes(r, fu, provider, d.Scopes)
	}
	if r.Method == http.MethodGet {
		s.formPage(w, data)
		return nil
	}
	if e := s.checkForm(w, r); e != "" {
		data.Error = e
		s.formPage(w, data)
		return nil
	}
	data.UserCode = r.PostForm.Get("user_code")
	code := normalizeUserCode(data.UserCode)
	d, err := s.store.DeviceByUserCode(r.Context(), code)
	if err != nil || d.Status != "pending" || !s.now().Before(d.ExpiresAt) {
		data.Error = "Unknown or expired code. Check the code shown by codesync-cli."
		s.formPage(w, data)
		return nil
	}
	data.Scopes = s.pageScopes(r, fu, provider, d.Scopes)
	u, msg := s.pageUser(r, fu)
	if u == nil {
		data.Error, data.Username = msg, r.PostForm.Get("username")
		s.formPage(w, data)
		return nil
	}
	status, text := "approved", "Device connected. You can close this window and return to your terminal."
	if r.PostForm.Get("action") != "approve" {
		status, text = "denied", "Request denied. codesync-cli will stop waiting."
	}
	ip := remoteAddr(r).String()
	if provider != "" && status == "approved" {
		if err := s.store.SetSessionProvider(r.Context(), "device:"+code, provider, s.now()); err != nil {
			return s.internal(err)
		}
	}
	if err := s.store.DecideDevice(r.Context(), code, status, u.ID, &store.Event{UserID: &u.ID, Type: model.EventLoginSucceeded, Time: s.now(), Actor: u.Name, IP: &ip, Detail: "device code " + status}); err != nil {
		data.Error = "This code was already used."
		s.formPage(w, data)
		return nil
	}
	s.page(w, http.StatusOK, pageData{Title: "Done", Message: text})
	return nil
}

// checkForm parses the posted form and checks its CSRF token against the
// cookie (double submit). It returns a message for the person, or "".
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request) string {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return "The form could not be read."
	}
	c, err := r.Cookie(csrfCookie)
	field := r.PostForm.Get("csrf_token")
	if err != nil || field == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(field)) != 1 {
		return "The form expired or was not sent from this page. Please try again."
	}
	if a := r.PostForm.Get("action"); !slices.Contains([]string{"approve", "deny"}, a) {
		return "Choose Approve or Deny."
	}
	return ""
}
