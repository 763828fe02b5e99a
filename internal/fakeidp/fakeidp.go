// Package fakeidp is an in-process OpenID Connect issuer on 127.0.0.1 that
// stands in, in tests, for GitHub Actions' and GitLab CI's ID token issuers,
// which cannot be reached from the test machines. It serves what a relying
// party reads from them — the discovery document and a JWKS (with key
// rotation) — mints RS256 ID tokens with GitHub's or GitLab's claim names,
// and serves GitHub's ACTIONS_ID_TOKEN_REQUEST_URL endpoint.
package fakeidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Paths the stand-in serves (GitHub's JWKS path).
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks"
	ActionsPath   = "/_apis/actions/idtoken"
)

// DefaultLifetime of a minted token (GitHub's are valid for minutes).
const DefaultLifetime = 5 * time.Minute

type key struct {
	kid  string
	priv *rsa.PrivateKey
}

// IdP is a running stand-in issuer.
type IdP struct {
	srv *httptest.Server

	mu        sync.Mutex
	current   key
	published []key // what the JWKS serves; current is among them
	retired   []key // keys no longer served, newest last
	fetches   int   // JWKS requests served
	serial    int
	now       func() time.Time

	actionsToken  string
	actionsClaims map[string]any
	actionsCalls  int
}

// Start runs a stand-in issuer on 127.0.0.1; Close stops it.
func Start() (*IdP, error) {
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	p := &IdP{current: k, published: []key{k}, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, p.discovery)
	mux.HandleFunc("GET "+JWKSPath, p.jwks)
	mux.HandleFunc("GET "+ActionsPath, p.actions)
	p.srv = httptest.NewServer(mux) // binds 127.0.0.1:0
	return p, nil
}

// New starts a stand-in issuer stopped at the end of the test.
func New(tb testing.TB) *IdP {
	tb.Helper()
	p, err := Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Close stops the server.
func (p *IdP) Close() { p.srv.Close() }

// Issuer is the iss of the tokens and the base of the discovery URL.
func (p *IdP) Issuer() string { return p.srv.URL }

// Client is an HTTP client for the stand-in.
func (p *IdP) Client() *http.Client { return p.srv.Client() }

// SetNow sets the clock that iat, nbf and exp are computed from.
func (p *IdP) SetNow(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}

func newKey() (key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return key{}, err
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return key{}, err
	}
	return key{kid: hex.EncodeToString(b), priv: priv}, nil
}

// Rotate signs from now on with a new key and publishes it next to the old
// ones, as GitHub does during a rotation.
func (p *IdP) Rotate() error {
	k, err := newKey()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = k
	p.published = append(p.published, k)
	return nil
}

// Retire stops publishing every key but the current one.
func (p *IdP) Retire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.published {
		if k.kid != p.current.kid {
			p.retired = append(p.retired, k)
		}
	}
	p.published = []key{p.current}
}

// MintRetired signs claims with the most recently retired key (one the
// JWKS served before Retire), under its own kid.
func (p *IdP) MintRetired(claims map[string]any) (string, error) {
	p.mu.Lock()
	if len(p.retired) == 0 {
		p.mu.Unlock()
		return "", fmt.Errorf("fakeidp: no retired key")
	}
	k := p.retired[len(p.retired)-1]
	p.mu.Unlock()
	return p.sign(k, claims)
}

// KeyIDs are the kids the JWKS serves, oldest first.
func (p *IdP) KeyIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []string{}
	for _, k := range p.published {
		out = append(out, k.kid)
	}
	return out
}

// JWKSFetches counts the JWKS requests served.
func (p *IdP) JWKSFetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
}

func (p *IdP) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                p.Issuer(),
		"jwks_uri":                              p.Issuer() + JWKSPath,
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
		"claims_supported": []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository",
			"repository_id", "repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt",
			"actor", "actor_id", "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name",
			"ref_type", "environment", "job_workflow_ref", "job_workflow_sha", "project_path", "namespace_path",
			"pipeline_id", "pipeline_source", "job_id", "ci_config_ref_uri"},
	})
}

func (p *IdP) jwks(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	p.fetches++
	set := jose.JSONWebKeySet{}
	for _, k := range p.published {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	p.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Mint signs claims with the current key. iss, aud (DefaultAudience), iat,
// nbf, exp (DefaultLifetime) and a fresh jti are filled in unless claims
// set them; a claim set to nil is left out of the token.
func (p *IdP) Mint(claims map[string]any) (string, error) {
	p.mu.Lock()
	k := p.current
	p.mu.Unlock()
	return p.sign(k, claims)
}

// MintForeign signs claims with a key the JWKS never served, under the
// current key's kid: what a forger without the issuer's key can produce.
func (p *IdP) MintForeign(claims map[string]any) (string, error) {
	k, err := newKey()
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	k.kid = p.current.kid
	p.mu.Unlock()
	return p.sign(k, claims)
}

// MintUnknownKid signs claims with a key the JWKS never served, under a kid
// it never served either (which makes a relying party refetch the JWKS).
func (p *IdP) MintUnknownKid(claims map[string]any) (string, error) {
	k, err := newKey()
	if err != nil {
		return "", err
	}
	return p.sign(k, claims)
}

// DefaultAudience is the aud Mint puts in when claims name none.
const DefaultAudience = "codesync"

func (p *IdP) sign(k key, claims map[string]any) (string, error) {
	p.mu.Lock()
	now := p.now()
	p.serial++
	serial := p.serial
	p.mu.Unlock()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	full := map[string]any{
		"iss": p.Issuer(),
		"aud": DefaultAudience,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(DefaultLifetime).Unix(),
		"jti": fmt.Sprintf("%x-%d", jti, serial),
	}
	for c, v := range claims {
		if v == nil {
			delete(full, c)
			continue
		}
		full[c] = v
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(sig).Claims(full).Serialize()
}

// GitHubJob describes the GitHub Actions job a token is minted for.
type GitHubJob struct {
	Repository  string // OWNER/REPO
	Workflow    string // file in .github/workflows, e.g. release.yml
	Ref         string // default refs/heads/main
	Environment string // the job's environment, if any
	EventName   string // default push
	RunID       string // default 4242
	Actor       string // default octocat
	// JobWorkflowRef overrides job_workflow_ref (a reusable workflow of
	// another repository).
	JobWorkflowRef string
	// HeadRepository adds a head_repository claim. github.com's tokens carry
	// none; GitHub Enterprise custom claims and other issuers may.
	HeadRepository string
}

// GitHubClaims are the claims GitHub Actions puts in a job's ID token
// (names and shapes as documented by GitHub), without iss/aud/exp/iat/nbf/jti.
func GitHubClaims(j GitHubJob) map[string]any {
	owner, _, _ := strings.Cut(j.Repository, "/")
	ref := or(j.Ref, "refs/heads/main")
	ev := or(j.EventName, "push")
	refType := "branch"
	if strings.HasPrefix(ref, "refs/tags/") {
		refType = "tag"
	}
	sub := "repo:" + j.Repository + ":ref:" + ref
	switch {
	case j.Environment != "":
		sub = "repo:" + j.Repository + ":environment:" + j.Environment
	case ev == "pull_request" || ev == "pull_request_target":
		sub = "repo:" + j.Repository + ":pull_request"
	}
	wf := j.Repository + "/.github/workflows/" + j.Workflow + "@" + ref
	c := map[string]any{
		"sub":                   sub,
		"ref":                   ref,
		"ref_type":              refType,
		"ref_protected":         "false",
		"sha":                   "8f1b3c0d2e4a6b7c9d0e1f2a3b4c5d6e7f8a9b0c",
		"repository":            j.Repository,
		"repository_id":         "690123456",
		"repository_owner":      owner,
		"repository_owner_id":   "1234567",
		"repository_visibility": "public",
		"run_id":                or(j.RunID, "4242"),
		"run_number":            "17",
		"run_attempt":           "1",
		"runner_environment":    "github-hosted",
		"actor":                 or(j.Actor, "octocat"),
		"actor_id":              "583231",
		"workflow":              "Release",
		"workflow_ref":          wf,
		"workflow_sha":          "8f1b3c0d2e4a6b7c9d0e1f2a3b4c5d6e7f8a9b0c",
		"job_workflow_ref":      or(j.JobWorkflowRef, wf),
		"job_workflow_sha":      "8f1b3c0d2e4a6b7c9d0e1f2a3b4c5d6e7f8a9b0c",
		"event_name":            ev,
		"head_ref":              "",
		"base_ref":              "",
	}
	if ev == "pull_request" || ev == "pull_request_target" {
		c["head_ref"] = "feature"
		c["base_ref"] = "main"
	}
	if j.Environment != "" {
		c["environment"] = j.Environment
	}
	if j.HeadRepository != "" {
		c["head_repository"] = j.HeadRepository
	}
	return c
}

// GitLabJob describes the GitLab CI job a token is minted for.
type GitLabJob struct {
	ProjectPath    string // GROUP/PROJECT
	Ref            string // branch or tag name; default main
	RefType        string // branch (default) or tag
	Environment    string
	PipelineSource string // default push
	PipelineID     string // default 1001
	JobID          string // default 5005
	User           string // default gitlab-user
}

// GitLabClaims are the claims of a GitLab CI id_tokens token (names and
// shapes as documented by GitLab), without iss/aud/exp/iat/nbf/jti.
func GitLabClaims(j GitLabJob) map[string]any {
	ns := j.ProjectPath
	if i := strings.LastIndex(ns, "/"); i >= 0 {
		ns = ns[:i]
	}
	ref := or(j.Ref, "main")
	refType := or(j.RefType, "branch")
	refPath := "refs/heads/" + ref
	if refType == "tag" {
		refPath = "refs/tags/" + ref
	}
	c := map[string]any{
		"sub":                "project_path:" + j.ProjectPath + ":ref_type:" + refType + ":ref:" + ref,
		"namespace_id":       "72",
		"namespace_path":     ns,
		"project_id":         "20",
		"project_path":       j.ProjectPath,
		"project_visibility": "public",
		"user_id":            "5",
		"user_login":         or(j.User, "gitlab-user"),
		"user_access_level":  "maintainer",
		"user_identities":    []any{},
		"pipeline_id":        or(j.PipelineID, "1001"),
		"pipeline_source":    or(j.PipelineSource, "push"),
		"job_id":             or(j.JobID, "5005"),
		"ref":                ref,
		"ref_type":           refType,
		"ref_path":           refPath,
		"ref_protected":      "true",
		"runner_id":          27,
		"runner_environment": "gitlab-hosted",
		"sha":                "714a629c0b401fdce83e847fc9589983fc6f46bc",
		"ci_config_ref_uri":  "gitlab.com/" + j.ProjectPath + "//.gitlab-ci.yml@" + refPath,
		"ci_config_sha":      "714a629c0b401fdce83e847fc9589983fc6f46bc",
	}
	if j.Environment != "" {
		c["environment"] = j.Environment
		c["environment_protected"] = "true"
		c["deployment_tier"] = "production"
	}
	return c
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ActionsEnv makes the GitHub Actions token endpoint answer for a job with
// these claims (from GitHubClaims) and returns the two variables a job
// with `permissions: id-token: write` gets: ACTIONS_ID_TOKEN_REQUEST_URL
// and ACTIONS_ID_TOKEN_REQUEST_TOKEN.
func (p *IdP) ActionsEnv(claims map[string]any) (requestURL, requestToken string) {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.actionsToken = hex.EncodeToString(b)
	p.actionsClaims = claims
	return p.Issuer() + ActionsPath + "?api-version=2.0", p.actionsToken
}

// ActionsCalls counts the token requests the Actions endpoint answered.
func (p *IdP) ActionsCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.actionsCalls
}

// actions is GitHub's ID token request endpoint: GET with the request token
// as bearer, optional audience parameter (default https://github.com/OWNER),
// answer {"count": N, "value": "<jwt>"}.
func (p *IdP) actions(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	want, claims := p.actionsToken, p.actionsClaims
	p.mu.Unlock()
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if want == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		http.Error(w, `{"message":"api-version missing"}`, http.StatusBadRequest)
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		owner, _, _ := strings.Cut(fmt.Sprint(claims["repository"]), "/")
		aud = "https://github.com/" + owner
	}
	full := map[string]any{}
	for k, v := range claims {
		full[k] = v
	}
	full["aud"] = aud
	tok, err := p.Mint(full)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	p.actionsCalls++
	n := p.actionsCalls
	p.mu.Unlock()
	writeJSON(w, map[string]any{"count": n, "value": tok})
}
