package trustedpub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Reason is the machine-readable cause of a refusal, for the audit event.
type Reason string

const (
	ReasonMalformed         Reason = "malformed_token"
	ReasonUntrustedIssuer   Reason = "untrusted_issuer"
	ReasonIssuerUnavailable Reason = "issuer_unavailable"
	ReasonBadSignature      Reason = "bad_signature"
	ReasonWrongAudience     Reason = "wrong_audience"
	ReasonExpired           Reason = "expired"
	ReasonNotYetValid       Reason = "not_yet_valid"
	ReasonMissingClaim      Reason = "missing_claim"
	ReasonReplayed          Reason = "replayed"
	ReasonReplayUnavailable Reason = "replay_guard_unavailable"
	ReasonPullRequest       Reason = "pull_request"
	ReasonFork              Reason = "fork"
	ReasonInconsistent      Reason = "inconsistent_claims"
	ReasonNoPublisher       Reason = "no_matching_publisher"
	ReasonLookupFailed      Reason = "publisher_lookup_failed"
)

// Refusal is the error of a refused exchange. Detail is safe to log and to
// put in the audit event (it never holds the token); the token endpoint
// answers OAuthError() with a generic description, or 503 when Temporary.
type Refusal struct {
	Reason Reason
	Detail string
	// Temporary: not the caller's fault (issuer or store unreachable).
	Temporary bool
	// Claims of the token when its signature was verified, else nil: an
	// unverified token's claims are the caller's say-so.
	Claims *MatchedClaims
}

func (r *Refusal) Error() string {
	return "trusted publishing refused (" + string(r.Reason) + "): " + r.Detail
}

// OAuthError is the RFC 6749 error code of the token response.
func (r *Refusal) OAuthError() string {
	switch {
	case r.Temporary:
		return "temporarily_unavailable"
	case r.Reason == ReasonInvalidRequest:
		return "invalid_request"
	}
	return "invalid_grant"
}

// MatchedClaims are the claims worth an audit event: who ran what.
type MatchedClaims struct {
	Issuer      string `json:"issuer"`
	Subject     string `json:"subject,omitempty"`
	Repository  string `json:"repository,omitempty"`
	Workflow    string `json:"workflow,omitempty"` // GitHub job_workflow_ref, GitLab ci_config_ref_uri
	Ref         string `json:"ref,omitempty"`
	Environment string `json:"environment,omitempty"`
	EventName   string `json:"event_name,omitempty"` // GitHub event_name, GitLab pipeline_source
	RunID       string `json:"run_id,omitempty"`     // GitHub run_id[/run_attempt], GitLab pipeline_id/job_id
	Actor       string `json:"actor,omitempty"`
	JTI         string `json:"jti,omitempty"`
}

// Grant is a successful exchange: mint a token with Scopes on Namespaces
// that expires at ExpiresAt.
type Grant struct {
	Publisher  Publisher   // the first match (lowest ID)
	Publishers []Publisher // every publisher that matched
	Namespaces []string    // union of the matches' namespaces
	Scopes     []string    // GrantedScopes
	Lifetime   time.Duration
	ExpiresAt  time.Time
	Claims     MatchedClaims
}

// ReplayGuard remembers the jti of every exchanged ID token until it expires.
type ReplayGuard interface {
	// Use records (issuer, jti) as used until expiry. It returns
	// ErrReplayed when the pair was recorded before, another error when it
	// cannot tell (the exchange then fails closed).
	Use(ctx context.Context, issuer, jti string, expiry time.Time) error
}

// ErrReplayed: the ID token was exchanged before.
var ErrReplayed = errors.New("this ID token was already exchanged")

// PublisherLookup returns the publishers whose ExpectedIssuer is issuer.
type PublisherLookup func(ctx context.Context, issuer string) ([]Publisher, error)

// Config of a Verifier; zero values take the defaults.
type Config struct {
	Audience       string        // the aud every token must carry; default DefaultAudience
	TrustedIssuers []string      // iss allow-list; default DefaultTrustedIssuers
	TokenLifetime  time.Duration // of the exchanged token; default 15 min, at most 1 h
	// Leeway for clock skew on exp, nbf and iat; default 30 s, at most 5 min.
	Leeway time.Duration
	// HTTPClient fetches discovery documents and key sets (default: 10 s timeout).
	HTTPClient *http.Client
	Replay     ReplayGuard // required
	Now        func() time.Time
}

// Defaults and bounds of Config.
const (
	DefaultLeeway     = 30 * time.Second
	MaxLeeway         = 5 * time.Minute
	maxTokenBytes     = 16 << 10
	discoveryBackoff  = 10 * time.Second
	discoveryDeadline = 10 * time.Second
)

// Verifier checks ID tokens and matches them to publishers. One per server:
// it caches each issuer's discovery document and key set (go-oidc's remote
// key set refetches the JWKS when a token names a key it has not seen, so
// rotation needs nothing from the operator).
type Verifier struct {
	cfg Config

	mu      sync.Mutex
	issuers map[string]*issuerState
}

// issuerState: one trusted issuer's verifier, discovered on first use. Its
// own lock, so a slow issuer does not hold up the others.
type issuerState struct {
	mu       sync.Mutex
	ver      *oidc.IDTokenVerifier
	failedAt time.Time
}

// NewVerifier checks cfg and fills in the defaults.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.TrustedIssuers == nil {
		cfg.TrustedIssuers = DefaultTrustedIssuers
	}
	iss, err := ParseTrustedIssuers(cfg.TrustedIssuers)
	if err != nil {
		return nil, err
	}
	cfg.TrustedIssuers = iss
	switch {
	case cfg.TokenLifetime == 0:
		cfg.TokenLifetime = DefaultTokenLifetime
	case cfg.TokenLifetime < time.Minute || cfg.TokenLifetime > MaxTokenLifetime:
		return nil, fmt.Errorf("the trusted publishing token lifetime must be between 1m and %s, not %s", MaxTokenLifetime, cfg.TokenLifetime)
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("the clock leeway must be between 0 and %s", MaxLeeway)
	}
	if cfg.Replay == nil {
		return nil, errors.New("trusted publishing needs a replay guard")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, issuers: map[string]*issuerState{}}, nil
}

// Config returns the effective configuration (defaults filled in).
func (v *Verifier) Config() Config { return v.cfg }

// signingAlgs: asymmetric only; "none" and HMAC are never accepted.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

func refuse(r Reason, format string, a ...any) *Refusal {
	return &Refusal{Reason: r, Detail: fmt.Sprintf(format, a...)}
}

// Identity is a verified ID token.
type Identity struct {
	Issuer string
	Claims map[string]any
	Expiry time.Time
}

// Verify checks an ID token's issuer (allow-list), signature (the issuer's
// published keys), audience (exactly the configured one), exp, nbf and iat
// (with the leeway) and that it has a jti. It does not consult the replay
// guard: Exchange does.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	if raw == "" || len(raw) > maxTokenBytes {
		return nil, refuse(ReasonMalformed, "the subject token is empty or too large")
	}
	tok, err := jwt.ParseSigned(raw, signingAlgs)
	if err != nil {
		return nil, refuse(ReasonMalformed, "the subject token is not a signed JWT")
	}
	var pre struct {
		Issuer string `json:"iss"`
	}
	// Read iss only to pick the issuer's keys; nothing is trusted before
	// the signature is verified below.
	if err := tok.UnsafeClaimsWithoutVerification(&pre); err != nil || pre.Issuer == "" {
		return nil, refuse(ReasonMalformed, "the subject token has no issuer")
	}
	if !slices.Contains(v.cfg.TrustedIssuers, pre.Issuer) {
		return nil, refuse(ReasonUntrustedIssuer, "issuer %q is not trusted by this server", clip(pre.Issuer))
	}
	ver, err := v.verifier(ctx, pre.Issuer)
	if err != nil {
		return nil, err
	}
	idt, err := ver.Verify(oidc.ClientContext(ctx, v.cfg.HTTPClient), raw)
	if err != nil {
		if strings.Contains(err.Error(), "fetching keys") {
			return nil, &Refusal{Reason: ReasonIssuerUnavailable, Detail: "the issuer's keys could not be fetched", Temporary: true}
		}
		return nil, refuse(ReasonBadSignature, "the subject token's signature does not verify with the issuer's published keys")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, refuse(ReasonMalformed, "the subject token's claims are unreadable")
	}
	id := &Identity{Issuer: idt.Issuer, Claims: claims, Expiry: idt.Expiry}
	mc := id.matched()

	// aud must be exactly the configured audience: a token minted for
	// several relying parties could be replayed by any of them.
	if len(idt.Audience) != 1 || idt.Audience[0] != v.cfg.Audience {
		return nil, &Refusal{Reason: ReasonWrongAudience, Detail: fmt.Sprintf("the subject token's audience is %q, not %q", clipList(idt.Audience), v.cfg.Audience), Claims: mc}
	}
	now := v.cfg.Now()
	lw := v.cfg.Leeway
	if idt.Expiry.IsZero() {
		return nil, &Refusal{Reason: ReasonMissingClaim, Detail: "the subject token has no exp", Claims: mc}
	}
	if now.After(idt.Expiry.Add(lw)) {
		return nil, &Refusal{Reason: ReasonExpired, Detail: "the subject token expired at " + idt.Expiry.UTC().Format(time.RFC3339), Claims: mc}
	}
	if idt.IssuedAt.IsZero() {
		return nil, &Refusal{Reason: ReasonMissingClaim, Detail: "the subject token has no iat", Claims: mc}
	}
	if idt.IssuedAt.After(now.Add(lw)) {
		return nil, &Refusal{Reason: ReasonNotYetValid, Detail: "the subject token was issued in the future (clock skew?)", Claims: mc}
	}
	if nbf, ok := numericDate(claims["nbf"]); ok && nbf.After(now.Add(lw)) {
		return nil, &Refusal{Reason: ReasonNotYetValid, Detail: "the subject token is not valid before " + nbf.UTC().Format(time.RFC3339), Claims: mc}
	}
	if str(claims, "jti") == "" {
		return nil, &Refusal{Reason: ReasonMissingClaim, Detail: "the subject token has no jti, so a replay could not be detected", Claims: mc}
	}
	return id, nil
}

// Exchange verifies raw, reads the publishers of its issuer, refuses a
// replayed jti and matches the token to a publisher. The error is always a
// *Refusal. Every verified token is single use, whether or not it then
// matches — except when the publishers could not be read (a temporary
// failure of the server's own), so a job holding one ID token (GitLab) can
// retry.
func (v *Verifier) Exchange(ctx context.Context, raw string, lookup PublisherLookup) (*Grant, error) {
	id, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	mc := id.matched()
	pubs, err := lookup(ctx, id.Issuer)
	if err != nil {
		return nil, &Refusal{Reason: ReasonLookupFailed, Detail: "the trusted publishers could not be read", Temporary: true, Claims: mc}
	}
	if err := v.cfg.Replay.Use(ctx, id.Issuer, mc.JTI, id.Expiry.Add(v.cfg.Leeway)); err != nil {
		if errors.Is(err, ErrReplayed) {
			return nil, &Refusal{Reason: ReasonReplayed, Detail: "this ID token (jti " + clip(mc.JTI) + ") was already exchanged", Claims: mc}
		}
		return nil, &Refusal{Reason: ReasonReplayUnavailable, Detail: "the replay guard is unavailable", Temporary: true, Claims: mc}
	}
	g, err := Match(id, pubs)
	if err != nil {
		return nil, err
	}
	g.Lifetime = v.cfg.TokenLifetime
	g.ExpiresAt = v.cfg.Now().Add(v.cfg.TokenLifetime)
	return g, nil
}

// verifier returns the cached go-oidc verifier of a trusted issuer,
// discovering it on first use. A failed discovery is not retried for
// discoveryBackoff, so a down issuer is not hammered.
func (v *Verifier) verifier(ctx context.Context, issuer string) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	st := v.issuers[issuer]
	if st == nil {
		st = &issuerState{}
		v.issuers[issuer] = st
	}
	v.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ver != nil {
		return st.ver, nil
	}
	unavailable := &Refusal{Reason: ReasonIssuerUnavailable, Detail: "the issuer's discovery document could not be fetched", Temporary: true}
	if !st.failedAt.IsZero() && v.cfg.Now().Sub(st.failedAt) < discoveryBackoff {
		return nil, unavailable
	}
	dctx, cancel := context.WithTimeout(ctx, discoveryDeadline)
	defer cancel()
	// The key set keeps the client of this context for its later fetches.
	p, err := oidc.NewProvider(oidc.ClientContext(dctx, v.cfg.HTTPClient), issuer)
	if err != nil {
		st.failedAt = v.cfg.Now()
		return nil, unavailable
	}
	algs := make([]string, len(signingAlgs))
	for i, a := range signingAlgs {
		algs[i] = string(a)
	}
	ver := p.Verifier(&oidc.Config{
		SkipClientIDCheck:    true, // checked strictly in Verify
		SkipExpiryCheck:      true, // checked in Verify with the configured leeway
		SupportedSigningAlgs: algs,
	})
	st.ver, st.failedAt = ver, time.Time{}
	return ver, nil
}

func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// clip bounds caller-controlled text that goes into a refusal.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

func clipList(l []string) string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = clip(s)
	}
	return clip(strings.Join(out, ","))
}
