package trustedpub_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/internal/fakeidp"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// harness: a stand-in for GitHub's issuer (fakeidp, since GitHub cannot be
// reached from tests), a verifier trusting it, and the publishers it knows.
type harness struct {
	t      *testing.T
	idp    *fakeidp.IdP
	v      *trustedpub.Verifier
	replay *trustedpub.MemoryReplayGuard
	pubs   []trustedpub.Publisher
}

func newHarness(t *testing.T, mod func(*trustedpub.Config)) *harness {
	t.Helper()
	idp := fakeidp.New(t)
	h := &harness{t: t, idp: idp, replay: trustedpub.NewMemoryReplayGuard(100, nil)}
	cfg := trustedpub.Config{TrustedIssuers: []string{idp.Issuer()}, Replay: h.replay, HTTPClient: idp.Client()}
	if mod != nil {
		mod(&cfg)
	}
	v, err := trustedpub.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.v = v
	h.pubs = []trustedpub.Publisher{
		{ID: "tp_github", Namespaces: []string{"@acme"}, Provider: trustedpub.GitHubActions, Issuer: idp.Issuer(),
			Repository: "acme/widgets", Workflow: "release.yml"},
		{ID: "tp_gitlab", Namespaces: []string{"@gl"}, Provider: trustedpub.GitLabCI, Issuer: idp.Issuer(),
			Repository: "group/sub/project", Ref: "main", Environment: "production"},
	}
	for i := range h.pubs {
		if err := h.pubs[i].Validate([]string{idp.Issuer()}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *harness) lookup(_ context.Context, iss string) ([]trustedpub.Publisher, error) {
	var out []trustedpub.Publisher
	for _, p := range h.pubs {
		if p.ExpectedIssuer() == iss {
			out = append(out, p)
		}
	}
	return out, nil
}

func (h *harness) mint(claims map[string]any) string {
	h.t.Helper()
	tok, err := h.idp.Mint(claims)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) exchange(tok string) (*trustedpub.Grant, *trustedpub.Refusal) {
	h.t.Helper()
	g, err := h.v.Exchange(context.Background(), tok, h.lookup)
	if err == nil {
		return g, nil
	}
	var r *trustedpub.Refusal
	if !errors.As(err, &r) {
		h.t.Fatalf("Exchange error is %T, not *Refusal: %v", err, err)
	}
	if tok != "" && (strings.Contains(err.Error(), tok) || strings.Contains(r.Detail, tok)) {
		h.t.Fatalf("the refusal contains the token: %v", err)
	}
	return nil, r
}

func github(j fakeidp.GitHubJob) map[string]any {
	if j.Repository == "" {
		j.Repository = "acme/widgets"
	}
	if j.Workflow == "" {
		j.Workflow = "release.yml"
	}
	return fakeidp.GitHubClaims(j)
}

func with(c map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

func TestExchangeGitHubActions(t *testing.T) {
	h := newHarness(t, nil)
	g, r := h.exchange(h.mint(github(fakeidp.GitHubJob{RunID: "777"})))
	if r != nil {
		t.Fatalf("refused: %v", r)
	}
	if g.Publisher.ID != "tp_github" || !slices.Equal(g.Namespaces, []string{"@acme"}) {
		t.Errorf("grant = %+v", g)
	}
	if !slices.Equal(g.Scopes, []string{"registry:publish", "registry:read"}) {
		t.Errorf("scopes = %v", g.Scopes)
	}
	if g.Lifetime != 15*time.Minute || time.Until(g.ExpiresAt) > 15*time.Minute || time.Until(g.ExpiresAt) < 14*time.Minute {
		t.Errorf("lifetime %s, expires %s", g.Lifetime, g.ExpiresAt)
	}
	c := g.Claims
	if c.Repository != "acme/widgets" || c.Workflow != "acme/widgets/.github/workflows/release.yml@refs/heads/main" ||
		c.RunID != "777/1" || c.EventName != "push" || c.Issuer != h.idp.Issuer() || c.JTI == "" {
		t.Errorf("audit claims = %+v", c)
	}
}

func TestExchangeGitLabCI(t *testing.T) {
	h := newHarness(t, func(c *trustedpub.Config) { c.TokenLifetime = time.Hour })
	g, r := h.exchange(h.mint(fakeidp.GitLabClaims(fakeidp.GitLabJob{ProjectPath: "group/sub/project", Environment: "production"})))
	if r != nil {
		t.Fatalf("refused: %v", r)
	}
	if g.Publisher.ID != "tp_gitlab" || !slices.Equal(g.Namespaces, []string{"@gl"}) || g.Lifetime != time.Hour {
		t.Errorf("grant = %+v", g)
	}
	if g.Claims.Repository != "group/sub/project" || g.Claims.RunID != "1001/5005" || g.Claims.Environment != "production" {
		t.Errorf("audit claims = %+v", g.Claims)
	}
	// Without the environment, or on another branch, the same project does not match.
	for _, job := range []fakeidp.GitLabJob{
		{ProjectPath: "group/sub/project"},
		{ProjectPath: "group/sub/project", Environment: "staging"},
		{ProjectPath: "group/sub/project", Environment: "production", Ref: "feature"},
		{ProjectPath: "group/sub/other", Environment: "production"},
	} {
		if _, r := h.exchange(h.mint(fakeidp.GitLabClaims(job))); r == nil || r.Reason != trustedpub.ReasonNoPublisher {
			t.Errorf("%+v: refusal %v, want no_matching_publisher", job, r)
		}
	}
}

func TestExchangeGenericIssuer(t *testing.T) {
	h := newHarness(t, nil)
	h.pubs = append(h.pubs, trustedpub.Publisher{ID: "tp_gen", Namespaces: []string{"@gen/tool"}, Provider: trustedpub.Generic,
		Issuer: h.idp.Issuer(), Claims: map[string]string{"sub": "system:serviceaccount:ci:publisher", "verified": "true"}})
	if err := h.pubs[2].Validate([]string{h.idp.Issuer()}); err != nil {
		t.Fatal(err)
	}
	g, r := h.exchange(h.mint(map[string]any{"sub": "system:serviceaccount:ci:publisher", "verified": true}))
	if r != nil {
		t.Fatalf("refused: %v", r)
	}
	if g.Publisher.ID != "tp_gen" || !slices.Equal(g.Namespaces, []string{"@gen/tool"}) {
		t.Errorf("grant = %+v", g)
	}
	_, r = h.exchange(h.mint(map[string]any{"sub": "system:serviceaccount:ci:publisher", "verified": false}))
	if r == nil || r.Reason != trustedpub.ReasonNoPublisher {
		t.Errorf("a claim with another value: %v", r)
	}
}

// TestRefusals: every way an exchange must fail, each with its reason.
func TestRefusals(t *testing.T) {
	h := newHarness(t, nil)
	now := time.Now()
	other := fakeidp.New(t) // an issuer the server does not trust
	otherTok, err := other.Mint(github(fakeidp.GitHubJob{}))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := h.idp.MintForeign(github(fakeidp.GitHubJob{}))
	if err != nil {
		t.Fatal(err)
	}
	unknownKid, err := h.idp.MintUnknownKid(github(fakeidp.GitHubJob{}))
	if err != nil {
		t.Fatal(err)
	}
	forged := otherTok // signed by other, claiming the trusted issuer
	if forged, err = other.Mint(with(github(fakeidp.GitHubJob{}), "iss", h.idp.Issuer())); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		tok  string
		want trustedpub.Reason
	}{
		{"not a JWT", "not.a.jwt", trustedpub.ReasonMalformed},
		{"empty", "", trustedpub.ReasonMalformed},
		{"wrong audience", h.mint(with(github(fakeidp.GitHubJob{}), "aud", "https://github.com/acme")), trustedpub.ReasonWrongAudience},
		{"extra audience", h.mint(with(github(fakeidp.GitHubJob{}), "aud", []string{"codesync", "other"})), trustedpub.ReasonWrongAudience},
		{"wrong issuer", otherTok, trustedpub.ReasonUntrustedIssuer},
		{"trusted issuer forged by another issuer's key", forged, trustedpub.ReasonBadSignature},
		{"signed by a key not in the JWKS (same kid)", foreign, trustedpub.ReasonBadSignature},
		{"signed by a key not in the JWKS (unknown kid)", unknownKid, trustedpub.ReasonBadSignature},
		{"expired", h.mint(with(github(fakeidp.GitHubJob{}), "iat", now.Add(-10*time.Minute).Unix(), "nbf", now.Add(-10*time.Minute).Unix(), "exp", now.Add(-2*time.Minute).Unix())), trustedpub.ReasonExpired},
		{"no exp", h.mint(with(github(fakeidp.GitHubJob{}), "exp", nil)), trustedpub.ReasonMissingClaim},
		{"issued in the future", h.mint(with(github(fakeidp.GitHubJob{}), "iat", now.Add(5*time.Minute).Unix(), "nbf", nil, "exp", now.Add(10*time.Minute).Unix())), trustedpub.ReasonNotYetValid},
		{"not yet valid", h.mint(with(github(fakeidp.GitHubJob{}), "nbf", now.Add(5*time.Minute).Unix())), trustedpub.ReasonNotYetValid},
		{"no iat", h.mint(with(github(fakeidp.GitHubJob{}), "iat", nil)), trustedpub.ReasonMissingClaim},
		{"no jti", h.mint(with(github(fakeidp.GitHubJob{}), "jti", nil)), trustedpub.ReasonMissingClaim},
		{"repository does not match", h.mint(github(fakeidp.GitHubJob{Repository: "acme/other"})), trustedpub.ReasonNoPublisher},
		{"repository of another owner", h.mint(github(fakeidp.GitHubJob{Repository: "evil/widgets"})), trustedpub.ReasonNoPublisher},
		{"workflow does not match", h.mint(github(fakeidp.GitHubJob{Workflow: "ci.yml"})), trustedpub.ReasonNoPublisher},
		{"another repository calling the publisher's workflow as a reusable workflow", h.mint(github(fakeidp.GitHubJob{Repository: "evil/widgets", JobWorkflowRef: "acme/widgets/.github/workflows/release.yml@refs/heads/main"})), trustedpub.ReasonNoPublisher},
		{"reusable workflow of another repository", h.mint(github(fakeidp.GitHubJob{JobWorkflowRef: "evil/tools/.github/workflows/release.yml@refs/heads/main"})), trustedpub.ReasonNoPublisher},
		{"fork pull_request_target workflow", h.mint(github(fakeidp.GitHubJob{EventName: "pull_request_target"})), trustedpub.ReasonPullRequest},
		{"pull_request workflow", h.mint(github(fakeidp.GitHubJob{EventName: "pull_request"})), trustedpub.ReasonPullRequest},
		{"fork head repository", h.mint(github(fakeidp.GitHubJob{EventName: "workflow_dispatch", HeadRepository: "evil/widgets"})), trustedpub.ReasonFork},
		{"repository_owner disagrees", h.mint(with(github(fakeidp.GitHubJob{}), "repository_owner", "evil")), trustedpub.ReasonInconsistent},
		{"GitLab merge request pipeline", h.mint(fakeidp.GitLabClaims(fakeidp.GitLabJob{ProjectPath: "group/sub/project", Environment: "production", PipelineSource: "merge_request_event"})), trustedpub.ReasonPullRequest},
		{"GitLab project outside its namespace", h.mint(with(fakeidp.GitLabClaims(fakeidp.GitLabJob{ProjectPath: "group/sub/project", Environment: "production"}), "namespace_path", "evil")), trustedpub.ReasonInconsistent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			g, r := h.exchange(c.tok)
			if r == nil {
				t.Fatalf("granted %+v, want refusal %s", g, c.want)
			}
			if r.Reason != c.want {
				t.Fatalf("reason %s (%s), want %s", r.Reason, r.Detail, c.want)
			}
			if r.Temporary || r.OAuthError() != "invalid_grant" {
				t.Errorf("temporary=%v oauth=%s", r.Temporary, r.OAuthError())
			}
			verified := c.want != trustedpub.ReasonMalformed && c.want != trustedpub.ReasonUntrustedIssuer && c.want != trustedpub.ReasonBadSignature
			if verified != (r.Claims != nil) {
				t.Errorf("claims %+v on a %s refusal", r.Claims, c.want)
			}
		})
	}
}

func TestReplayedJTIRefused(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mint(github(fakeidp.GitHubJob{}))
	if _, r := h.exchange(tok); r != nil {
		t.Fatalf("first exchange refused: %v", r)
	}
	_, r := h.exchange(tok)
	if r == nil || r.Reason != trustedpub.ReasonReplayed {
		t.Fatalf("second exchange: %v, want replayed", r)
	}
	if r.Claims == nil || r.Claims.Repository != "acme/widgets" {
		t.Errorf("replay refusal claims = %+v", r.Claims)
	}
	// A refused (unmatched) token is burnt too: no second try after a
	// publisher is added.
	tok = h.mint(github(fakeidp.GitHubJob{Workflow: "ci.yml"}))
	if _, r := h.exchange(tok); r == nil || r.Reason != trustedpub.ReasonNoPublisher {
		t.Fatalf("unmatched: %v", r)
	}
	if _, r := h.exchange(tok); r == nil || r.Reason != trustedpub.ReasonReplayed {
		t.Fatalf("unmatched twice: %v", r)
	}
}

func TestLeewayAndEnvironmentAndRef(t *testing.T) {
	h := newHarness(t, nil)
	now := time.Now()
	// Expired 10 s ago: within the 30 s leeway.
	tok := h.mint(with(github(fakeidp.GitHubJob{}), "iat", now.Add(-5*time.Minute).Unix(), "nbf", now.Add(-5*time.Minute).Unix(), "exp", now.Add(-10*time.Second).Unix()))
	if _, r := h.exchange(tok); r != nil {
		t.Fatalf("within leeway: %v", r)
	}
	h.pubs[0].Environment = "Release"
	h.pubs[0].Ref = "refs/tags/v1.2.3"
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{Ref: "refs/tags/v1.2.3"}))); r == nil || r.Reason != trustedpub.ReasonNoPublisher {
		t.Errorf("no environment: %v", r)
	}
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{Environment: "release", Ref: "refs/heads/main"}))); r == nil || r.Reason != trustedpub.ReasonNoPublisher {
		t.Errorf("wrong ref: %v", r)
	}
	// GitHub environment names are case-insensitive.
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{Environment: "release", Ref: "refs/tags/v1.2.3"}))); r != nil {
		t.Errorf("environment and ref match: %v", r)
	}
	h.pubs[0].RepositoryID = "1"
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{Environment: "release", Ref: "refs/tags/v1.2.3"}))); r == nil || r.Reason != trustedpub.ReasonNoPublisher {
		t.Errorf("pinned repository_id differs: %v", r)
	}
}

func TestSeveralPublishersUnionNamespaces(t *testing.T) {
	h := newHarness(t, nil)
	h.pubs = append(h.pubs, trustedpub.Publisher{ID: "tp_a2", Namespaces: []string{"@acme-tools/cli", "@acme"}, Provider: trustedpub.GitHubActions,
		Issuer: h.idp.Issuer(), Repository: "ACME/Widgets", Workflow: "release.yml"})
	g, r := h.exchange(h.mint(github(fakeidp.GitHubJob{})))
	if r != nil {
		t.Fatal(r)
	}
	if len(g.Publishers) != 2 || !slices.Equal(g.Namespaces, []string{"@acme", "@acme-tools/cli"}) {
		t.Errorf("grant = %+v", g)
	}
}

// TestKeyRotation: the verifier caches the JWKS and refetches it when a
// token names a key it has not seen; a retired key stops verifying.
func TestKeyRotation(t *testing.T) {
	h := newHarness(t, nil)
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{}))); r != nil {
		t.Fatal(r)
	}
	f := h.idp.JWKSFetches()
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{}))); r != nil {
		t.Fatal(r)
	}
	if h.idp.JWKSFetches() != f {
		t.Errorf("the JWKS was fetched again for a known key (%d → %d)", f, h.idp.JWKSFetches())
	}
	oldTok := h.mint(github(fakeidp.GitHubJob{}))
	if err := h.idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{}))); r != nil {
		t.Fatalf("token of the new key: %v", r)
	}
	if h.idp.JWKSFetches() != f+1 {
		t.Errorf("JWKS fetches %d, want %d after rotation", h.idp.JWKSFetches(), f+1)
	}
	// A retired key's tokens: refused once the verifier has reloaded a
	// JWKS without it. go-oidc stores the reloaded set just after it hands
	// it to the waiting verification, so allow a moment for that.
	// (A cached key is trusted until the next reload, which a token with an
	// unknown kid triggers: here the next rotation.)
	h.idp.Retire()
	if err := h.idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	h.idp.Retire()
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{}))); r != nil {
		t.Fatalf("token of the newest key: %v", r)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		retired, err := h.idp.MintRetired(github(fakeidp.GitHubJob{}))
		if err != nil {
			t.Fatal(err)
		}
		_, r := h.exchange(retired)
		if r != nil && r.Reason == trustedpub.ReasonBadSignature {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a retired key's token is still accepted: %v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, r := h.exchange(oldTok); r == nil || r.Reason != trustedpub.ReasonBadSignature {
		t.Errorf("token of the first, retired key: %v", r)
	}
}

func TestIssuerUnavailableIsTemporary(t *testing.T) {
	idp := fakeidp.New(t)
	tok, err := idp.Mint(github(fakeidp.GitHubJob{}))
	if err != nil {
		t.Fatal(err)
	}
	v, err := trustedpub.NewVerifier(trustedpub.Config{TrustedIssuers: []string{idp.Issuer()}, Replay: trustedpub.NewMemoryReplayGuard(10, nil)})
	if err != nil {
		t.Fatal(err)
	}
	idp.Close()
	_, err = v.Exchange(context.Background(), tok, func(context.Context, string) ([]trustedpub.Publisher, error) { return nil, nil })
	var r *trustedpub.Refusal
	if !errors.As(err, &r) || r.Reason != trustedpub.ReasonIssuerUnavailable || !r.Temporary || r.OAuthError() != "temporarily_unavailable" {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigBounds(t *testing.T) {
	g := trustedpub.NewMemoryReplayGuard(1, nil)
	for _, c := range []trustedpub.Config{
		{Replay: g, TokenLifetime: 2 * time.Hour},
		{Replay: g, TokenLifetime: time.Second},
		{Replay: g, Leeway: time.Hour},
		{},
		{Replay: g, TrustedIssuers: []string{"http://issuer.example"}},
	} {
		if _, err := trustedpub.NewVerifier(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	v, err := trustedpub.NewVerifier(trustedpub.Config{Replay: g})
	if err != nil {
		t.Fatal(err)
	}
	c := v.Config()
	if c.Audience != "codesync" || c.TokenLifetime != 15*time.Minute || !slices.Equal(c.TrustedIssuers, trustedpub.DefaultTrustedIssuers) {
		t.Errorf("defaults = %+v", c)
	}
}

func TestMemoryReplayGuardIsBoundedAndFailsClosed(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	g := trustedpub.NewMemoryReplayGuard(2, func() time.Time { return now })
	ctx := context.Background()
	if err := g.Use(ctx, "i", "a", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := g.Use(ctx, "j", "a", now.Add(2*time.Minute)); err != nil {
		t.Fatal("same jti of another issuer:", err)
	}
	if err := g.Use(ctx, "i", "a", now.Add(time.Minute)); !errors.Is(err, trustedpub.ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	if err := g.Use(ctx, "i", "b", now.Add(time.Minute)); !errors.Is(err, trustedpub.ErrReplayGuardFull) {
		t.Fatalf("full: %v", err)
	}
	now = now.Add(90 * time.Second) // i/a expired
	if err := g.Use(ctx, "i", "b", now.Add(time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if g.Len() != 2 {
		t.Errorf("len %d", g.Len())
	}
	if err := g.Use(ctx, "j", "a", now.Add(time.Minute)); !errors.Is(err, trustedpub.ErrReplayed) {
		t.Fatalf("j/a still remembered: %v", err)
	}
}

func TestReplayGuardFullRefusesTemporarily(t *testing.T) {
	h := newHarness(t, func(c *trustedpub.Config) { c.Replay = trustedpub.NewMemoryReplayGuard(1, nil) })
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{}))); r != nil {
		t.Fatal(r)
	}
	_, r := h.exchange(h.mint(github(fakeidp.GitHubJob{})))
	if r == nil || r.Reason != trustedpub.ReasonReplayUnavailable || !r.Temporary {
		t.Fatalf("refusal %v", r)
	}
}

// TestKeySetUnavailableIsTemporary: discovery done, then the issuer goes
// away; a token naming an unknown key cannot be checked, which is not the
// caller's fault.
func TestKeySetUnavailableIsTemporary(t *testing.T) {
	h := newHarness(t, nil)
	if _, r := h.exchange(h.mint(github(fakeidp.GitHubJob{}))); r != nil {
		t.Fatal(r)
	}
	tok, err := h.idp.MintUnknownKid(github(fakeidp.GitHubJob{}))
	if err != nil {
		t.Fatal(err)
	}
	h.idp.Close()
	_, r := h.exchange(tok)
	if r == nil || r.Reason != trustedpub.ReasonIssuerUnavailable || !r.Temporary {
		t.Fatalf("refusal %v", r)
	}
}

// TestDiscoveryFailureBacksOff: a failed discovery is retried only after
// a pause, so a down issuer is not asked again on every exchange.
func TestDiscoveryFailureBacksOff(t *testing.T) {
	var hits atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer down.Close()
	idp := fakeidp.New(t)
	tok, err := idp.Mint(with(github(fakeidp.GitHubJob{}), "iss", down.URL))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v, err := trustedpub.NewVerifier(trustedpub.Config{TrustedIssuers: []string{down.URL}, Replay: trustedpub.NewMemoryReplayGuard(10, nil),
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	none := func(context.Context, string) ([]trustedpub.Publisher, error) { return nil, nil }
	for i, want := range []int32{1, 1, 2} {
		if i == 2 {
			now = now.Add(11 * time.Second)
		}
		var r *trustedpub.Refusal
		if _, err := v.Exchange(context.Background(), tok, none); !errors.As(err, &r) || r.Reason != trustedpub.ReasonIssuerUnavailable {
			t.Fatalf("exchange %d: %v", i, err)
		}
		if hits.Load() != want {
			t.Errorf("after exchange %d: %d discovery requests, want %d", i, hits.Load(), want)
		}
	}
}

// TestLookupFailureDoesNotBurnTheToken: a GitLab job has one ID token; when
// the server cannot read its publishers, the job may retry with it.
func TestLookupFailureDoesNotBurnTheToken(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mint(github(fakeidp.GitHubJob{}))
	_, err := h.v.Exchange(context.Background(), tok, func(context.Context, string) ([]trustedpub.Publisher, error) {
		return nil, errors.New("database is locked")
	})
	var r *trustedpub.Refusal
	if !errors.As(err, &r) || r.Reason != trustedpub.ReasonLookupFailed || !r.Temporary || strings.Contains(r.Error(), "database") {
		t.Fatalf("lookup failure: %v", err)
	}
	if _, r := h.exchange(tok); r != nil {
		t.Fatalf("retry after a lookup failure: %v", r)
	}
}
