// Package server is the reference CodeSync server: the HTTP API of SPEC §4
// over pkg/server/store. It is a real server (persistent, concurrent, rate
// limited), embedded in the CLI as `codesync-cli server`.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/codesync/codesync-cli/pkg/federation"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/policy"
	"github.com/codesync/codesync-cli/pkg/redact"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// Config sets the server's policy.
type Config struct {
	Environment          string // model.EnvProduction or model.EnvSandbox
	Issuer               string // base URL as clients see it (RFC 8414 issuer, JWT aud)
	ProdRate             rate.Limit
	DevRate              rate.Limit
	AnonRate             rate.Limit // per IP, for calls without a valid credential
	FailedLoginThreshold int        // health turns degraded at this many failures an hour
	AccessTokenTTL       time.Duration
	SecretScanningKeys   ScanningKeys
	RefreshTokenTTL      time.Duration
	DeviceInterval       time.Duration // device flow polling interval (default 5 s)
	ReadHeaderTimeout    time.Duration // slow clients (default 10 s)
	IdleTimeout          time.Duration // idle keep-alive connections (default 120 s)
	Now                  func() time.Time
	Logger               *slog.Logger
	// Rules are further limits on what a credential can create, applied in
	// the same call as its ceiling (pkg/policy): organizations' policies.
	Rules []policy.Rule
	// PurgeInterval is how often expired codes, tokens and stored answers
	// are deleted (default 10 minutes).
	PurgeInterval time.Duration
	// Federation is federated sign-in (nil: local accounts only).
	Federation *Federation
	// DisableLocalLogin hides and refuses the password form of the
	// sign-in pages: only the identity providers remain.
	DisableLocalLogin bool
	// TrustedPublishing configures the token exchange of CI identities.
	TrustedPublishing TrustedPublishing
	// Notifications: expiry notices and webhooks (nil: off).
	Notifications *Notifications
}

func (c *Config) defaults() {
	if c.Environment == "" {
		c.Environment = model.EnvProduction
	}
	if c.ProdRate == 0 {
		c.ProdRate = 50
	}
	if c.DevRate == 0 {
		c.DevRate = 10
	}
	if c.AnonRate == 0 {
		c.AnonRate = 20
	}
	if c.FailedLoginThreshold == 0 {
		c.FailedLoginThreshold = 50
	}
	if c.AccessTokenTTL == 0 {
		c.AccessTokenTTL = 2 * time.Hour
	}
	if c.RefreshTokenTTL == 0 {
		c.RefreshTokenTTL = 720 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server serves the API.
type Server struct {
	cfg   Config
	store *store.Store
	mux   *http.ServeMux

	limits  *limiters
	creds   *credCache
	exports exportSlots
	// OAuth
	throttle  signInThrottle
	refreshes atomic.Int64
	usedMu    sync.Mutex
	lastUse   map[string]time.Time // credential id -> last token:used write
	orgs      orgState
	// federated sign-in
	flow  *federation.Flow
	fedMu sync.Mutex           // one upstream re-check at a time (rotating refresh tokens)
	tp    *trustedpub.Verifier // nil: the token exchange is off (bad configuration, logged)
	nt    *notifier            // expiry notices and webhooks (nil: off)
	ntErr error
}

// New builds a server over st.
func New(cfg Config, st *store.Store) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, store: st, mux: http.NewServeMux(), limits: newLimiters(), creds: newCredCache(), lastUse: map[string]time.Time{}}
	s.flow = &federation.Flow{Store: st.FederationStates(), Now: cfg.Now}
	v, err := s.newVerifier() // nil when off
	if err != nil {
		cfg.Logger.Error("trusted publishing is off", "error", err)
	}
	s.tp = v
	if cfg.Notifications != nil {
		s.nt, s.ntErr = newNotifier(s, *cfg.Notifications)
	}
	s.routes()
	return s
}

// SetIssuer sets the externally visible base URL once the listener is known.
func (s *Server) SetIssuer(u string) { s.cfg.Issuer = u }

// Store returns the server's store.
func (s *Server) Store() *store.Store { return s.store }

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// authed is a handler that runs with a checked credential.
type authed func(w http.ResponseWriter, r *http.Request, c *Credential) *apiError

// plain is a handler without a credential.
type plain func(w http.ResponseWriter, r *http.Request) *apiError

func (s *Server) routes() {
	s.handle("GET /v1/auth/health", s.anonymous(s.health))
	s.handle("GET /v1/auth/whoami", s.auth("", s.whoami))
	s.handle("GET /v1/keys", s.auth("keys:read", s.listKeys))
	s.handle("POST /v1/keys", s.auth("keys:write", s.createKey))
	s.handle("GET /v1/keys/export", s.auth("keys:read", s.exportKeys))
	s.handle("GET /v1/keys/{id}", s.auth("keys:read", s.getKey))
	s.handle("POST /v1/keys/{id}/rotate", s.auth("keys:write", s.rotateKey))
	s.handle("DELETE /v1/keys/{id}", s.auth("keys:write", s.revokeKey))
	s.handle("GET /v1/audit/events", s.auth("audit:read", s.listEvents))
	s.handle("POST /v1/keys/check", s.auth("keys:read", s.checkKeys))
	s.handle("POST /v1/secret-scanning/report", s.anonymous(s.secretScanningReport))
	s.handle("PUT /v1/registry/packages/{name...}", s.auth("registry:publish", s.putPackage))
	s.handle("GET /v1/registry/packages/{name...}", s.auth("registry:read", s.getPackage))
	s.oauthRoutes()
	s.jwtRoutes()
	s.orgRoutes()
	s.fedRoutes()
	s.trustedPubRoutes()
	s.webhookRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

func (s *Server) handle(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// Handler is the full middleware chain: recover, request id, access log.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := newRequestID()
		w.Header().Set("X-Request-Id", rid)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.cfg.Logger.Error("panic", "request_id", rid, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, errf(http.StatusInternalServerError, "server_error", "internal error (request %s)", rid))
				}
			}
			// The query string and headers may hold secrets, so they are never
			// logged; a path holds one only when a token is pasted where an ID
			// belongs, and such segments are redacted.
			s.cfg.Logger.Info("request", "request_id", rid, "method", r.Method, "path", redact.Path(r.URL.Path), "status", sw.status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		s.mux.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// remoteAddr is the peer's address: no proxy header is trusted.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// anonymous wraps a public handler with the per-IP limit.
func (s *Server) anonymous(h plain) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if e := s.limitIP(r); e != nil {
			writeError(w, e)
			return
		}
		if e := h(w, r); e != nil {
			writeError(w, e)
		}
	}
}

// limitIP is the limit of anonymous calls and failed authentications, per
// network (/24 or /64), not per exact address.
func (s *Server) limitIP(r *http.Request) *apiError {
	if d, ok := s.limits.allow("ip:"+netPrefix(remoteAddr(r)), s.cfg.AnonRate, s.now()); !ok {
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limited", desc: "too many requests from this address", retryAfter: d}
	}
	return nil
}

// auth wraps h: credential, account, environment, CIDR, rate limit, scope —
// in that order — then records the use.
func (s *Server) auth(scope string, h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, e := s.authenticate(r)
		if e != nil {
			if e.status == http.StatusUnauthorized {
				// failed credentials count against the address, so guessing is slow
				if le := s.limitIP(r); le != nil {
					e = le
				}
			}
			writeError(w, e)
			return
		}
		if d, ok := s.limits.allow("cred:"+c.ID, s.rateFor(c), s.now()); !ok {
			writeError(w, &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
				desc: fmt.Sprintf("rate limit of this credential (%g/s) exceeded", float64(s.rateFor(c))), retryAfter: d})
			return
		}
		if scope != "" && !c.HasScope(scope) {
			writeError(w, insufficientScope(scope))
			return
		}
		if !c.ExpiresAt.IsZero() && c.Type == model.CredentialAPIKey {
			w.Header().Set("CodeSync-Credential-Expires", c.ExpiresAt.UTC().Format(time.RFC3339))
			// which key, so the CLI's expiry warning can name it
			w.Header().Set("CodeSync-Credential-Id", c.ID)
			w.Header().Set("CodeSync-Credential-Name", url.PathEscape(c.Name))
		}
		s.recordUse(r.Context(), c, remoteAddr(r))
		if e := h(w, r, c); e != nil {
			writeError(w, e)
		}
	}
}

func insufficientScope(scope string) *apiError {
	return &apiError{status: http.StatusForbidden, code: "insufficient_scope", desc: "this credential lacks the scope " + scope, scope: scope}
}

func (s *Server) rateFor(c *Credential) rate.Limit {
	if c.RateClass == "dev" || s.cfg.Environment == model.EnvSandbox {
		return s.cfg.DevRate
	}
	return s.cfg.ProdRate
}

// recordUse writes token:used and last_used_* at most once a minute per
// credential, not once a request.
func (s *Server) recordUse(ctx context.Context, c *Credential, ip netip.Addr) {
	now := s.now()
	s.usedMu.Lock()
	last, seen := s.lastUse[c.ID]
	if seen && now.Sub(last) < time.Minute {
		s.usedMu.Unlock()
		return
	}
	s.lastUse[c.ID] = now
	s.usedMu.Unlock()
	ipStr := ip.String()
	ev := &store.Event{UserID: &c.User.ID, Type: model.EventTokenUsed, Time: now, Actor: c.User.Name, KeyID: c.keyID(), IP: &ipStr, Detail: c.Type + " " + c.Prefix}
	var err error
	if c.Type == model.CredentialAPIKey {
		err = s.store.MarkUsed(ctx, c.ID, ipStr, now, ev)
	} else {
		err = s.store.AddEvent(ctx, ev)
	}
	if err != nil {
		s.cfg.Logger.Warn("recording token use failed", "error", err)
	}
}

// maxLimiters bounds the token buckets kept: past it the bucket idle
// longest is dropped, one at a time.
const maxLimiters = 100_000

// limiters holds token buckets by key, dropping idle ones.
type limiters struct {
	mu    sync.Mutex
	m     *lru[*limiterEntry]
	sweep time.Time
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiters() *limiters { return &limiters{m: newLRU[*limiterEntry](maxLimiters)} }

// allow takes one token for key at rate r (burst 2r); when refused it says how
// long until a token is free.
func (ls *limiters) allow(key string, r rate.Limit, now time.Time) (time.Duration, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if now.Sub(ls.sweep) > time.Minute {
		// the least recently seen are at the back: drop them while idle
		for k, e, ok := ls.m.oldest(); ok && now.Sub(e.seen) > 10*time.Minute; k, e, ok = ls.m.oldest() {
			ls.m.del(k)
		}
		ls.sweep = now
	}
	e, ok := ls.m.get(key)
	burst := int(2 * float64(r))
	if burst < 1 {
		burst = 1
	}
	if !ok || e.l.Limit() != r {
		e = &limiterEntry{l: rate.NewLimiter(r, burst)}
	}
	e.seen = now
	ls.m.put(key, e)
	res := e.l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}
