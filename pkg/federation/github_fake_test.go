package federation

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recordedGitHub is a RECORDED FAKE of GitHub: the OAuth app endpoints of
// github.com (/login/oauth/authorize, /login/oauth/access_token) and the
// REST API calls the provider makes (/user, /user/orgs, /user/teams),
// answering with the JSON of testdata/github (GitHub's documented answers)
// and GitHub's status codes and headers (form-encoded token answers,
// HTTP 200 with "error" for a bad code, 401 "Bad credentials", Link
// pagination). It checks what GitHub checks: client id and secret, the
// redirect URI, the single-use code and its PKCE S256 challenge, the bearer
// token. It is not GitHub: the real API is not reachable from the tests.
type recordedGitHub struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu           sync.Mutex
	codes        map[string]ghCode
	tokens       map[string]bool // access token -> valid
	removedTeams map[string]bool // team slugs the user was removed from
	expiring     bool            // "expiring user tokens": refresh tokens, rotated
	refresh      map[string]bool // refresh token -> valid
}

type ghCode struct {
	redirect, challenge string
}

func newRecordedGitHub(t *testing.T) *recordedGitHub {
	f := &recordedGitHub{t: t, secret: randomString(20), codes: map[string]ghCode{},
		tokens: map[string]bool{}, removedTeams: map[string]bool{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", f.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", f.accessToken)
	mux.HandleFunc("GET /api/v3/user", f.api("user.json"))
	mux.HandleFunc("GET /api/v3/user/orgs", f.orgs)
	mux.HandleFunc("GET /api/v3/user/teams", f.teams)
	f.srv = httptest.NewServer(mux) // 127.0.0.1, a free port
	t.Cleanup(f.srv.Close)
	return f
}

func (f *recordedGitHub) fixture(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "github", name))
	if err != nil {
		f.t.Error(err)
	}
	return b
}

// authorize stands for the person approving the app on github.com.
func (f *recordedGitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != "Iv1.recordedfake" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	if !slices.Equal(strings.Split(q.Get("scope"), " "), []string{"read:user", "user:email", "read:org"}) {
		http.Error(w, "unexpected scope "+q.Get("scope"), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	code := "fakecode" + randomString(10)
	f.codes[code] = ghCode{redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	f.mu.Unlock()
	u, _ := url.Parse(q.Get("redirect_uri"))
	u.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (f *recordedGitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.PostForm.Get("client_id") != "Iv1.recordedfake" || r.PostForm.Get("client_secret") != f.secret {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.Write([]byte("error=incorrect_client_credentials&error_description=The+client_id+and%2For+client_secret+passed+are+incorrect."))
		return
	}
	if r.PostForm.Get("grant_type") == "refresh_token" {
		f.mu.Lock()
		ok := f.refresh[r.PostForm.Get("refresh_token")]
		delete(f.refresh, r.PostForm.Get("refresh_token"))
		f.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			w.Write([]byte("error=bad_refresh_token&error_description=The+refresh+token+passed+is+incorrect+or+expired."))
			return
		}
		f.issue(w)
		return
	}
	f.mu.Lock()
	c, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code"))
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if r.PostForm.Get("grant_type") != "authorization_code" || !ok || c.redirect != r.PostForm.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(f.fixture("bad_verification_code.json")) // GitHub answers 200
		return
	}
	f.issue(w)
}

func (f *recordedGitHub) issue(w http.ResponseWriter) {
	tok := "gho_" + randomString(27)
	v := url.Values{"access_token": {tok}, "scope": {"read:org,read:user,user:email"}, "token_type": {"bearer"}}
	f.mu.Lock()
	f.tokens[tok] = true
	if f.expiring {
		v.Set("access_token", "ghu_"+randomString(27))
		delete(f.tokens, tok)
		f.tokens[v.Get("access_token")] = true
		rt := "ghr_" + randomString(60)
		f.refresh[rt] = true
		v.Set("expires_in", "28800")
		v.Set("refresh_token", rt)
		v.Set("refresh_token_expires_in", "15811200")
		v.Set("scope", "")
	}
	f.mu.Unlock()
	// Without "Accept: application/json" GitHub answers form-encoded.
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w.Write([]byte(v.Encode()))
}

func (f *recordedGitHub) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	valid := ok && f.tokens[tok]
	f.mu.Unlock()
	if !valid || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write(f.fixture("bad_credentials.json"))
		return false
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-RateLimit-Limit", "5000")
	w.Header().Set("X-RateLimit-Remaining", "4999")
	return true
}

func (f *recordedGitHub) api(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.authorized(w, r) {
			w.Write(f.fixture(name))
		}
	}
}

func (f *recordedGitHub) orgs(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	if r.URL.Query().Get("page") == "2" {
		w.Write(f.fixture("user_orgs_page2.json"))
		return
	}
	next := f.srv.URL + "/api/v3/user/orgs?per_page=100&page=2"
	w.Header().Set("Link", `<`+next+`>; rel="next", <`+next+`>; rel="last"`)
	w.Write(f.fixture("user_orgs_page1.json"))
}

func (f *recordedGitHub) teams(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var teams []map[string]any
	json.Unmarshal(f.fixture("user_teams.json"), &teams)
	f.mu.Lock()
	teams = slices.DeleteFunc(teams, func(t map[string]any) bool { return f.removedTeams[t["slug"].(string)] })
	f.mu.Unlock()
	json.NewEncoder(w).Encode(teams)
}

func (f *recordedGitHub) removeTeam(slug string) {
	f.mu.Lock()
	f.removedTeams[slug] = true
	f.mu.Unlock()
}

func (f *recordedGitHub) revokeAll() {
	f.mu.Lock()
	clear(f.tokens)
	f.mu.Unlock()
}

func (f *recordedGitHub) config(t *testing.T) *Config {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "github.secret")
	if err := os.WriteFile(secretFile, []byte(f.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(`
identity_providers:
  - id: gh
    type: github
    client_id: Iv1.recordedfake
    client_secret_file: `+secretFile+`
    github_url: `+f.srv.URL+`
mappings:
  - provider: gh
    group: octo-org/platform
    org: octo
    role: admin
  - provider: gh
    group: octo-labs
    org: labs
    role: member
    max_scopes: [registry:read]
`), OSEnv())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// githubSignIn runs the sign-in through the recorded fake (whose authorize
// endpoint approves at once) and returns the callback's query.
func githubSignIn(t *testing.T, flow *Flow, p Provider) (url.Values, string) {
	t.Helper()
	authURL, binding, err := flow.Start(context.Background(), p, "/oauth/authorize?client_id=codesync-cli")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || loc.Path != "/auth/callback/gh" {
		t.Fatalf("authorize answered %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query(), binding
}

// TestGitHubRecordedFake: sign-in with a GitHub OAuth app gives the user,
// its organizations (across pages) and teams as groups; a team removed
// upstream shows at the next Recheck; a revoked token cannot recheck; a bad
// code is refused.
func TestGitHubRecordedFake(t *testing.T) {
	gh := newRecordedGitHub(t)
	cfg := gh.config(t)
	pc, _ := cfg.Provider("gh")
	if pc.APIURL != gh.srv.URL+"/api/v3" || pc.Name != "GitHub" || pc.ClientSecret.Reveal() != gh.secret {
		t.Fatalf("GitHub Enterprise defaults: %+v", pc)
	}
	providers, err := NewProviders(cfg, Options{ServerURL: "https://codesync.example"})
	if err != nil {
		t.Fatal(err)
	}
	p := providers.Get("gh")
	flow := &Flow{Store: NewMemoryStateStore()}
	ctx := context.Background()

	q, binding := githubSignIn(t, flow, p)
	res, err := flow.Callback(ctx, p, q, binding)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Identity
	if id.Provider != "gh" || id.Subject != "583231" || id.Username != "octocat" || id.Email != "octocat@github.com" {
		t.Fatalf("identity %+v", id)
	}
	want := []string{"octo-org", "Octo-Labs", "octo-org/platform", "octo-org/justice-league"}
	if !slices.Equal(id.Groups, want) {
		t.Fatalf("groups %q, want %q", id.Groups, want)
	}
	if !strings.HasPrefix(res.RefreshToken, "access:gho_") || res.Return != "/oauth/authorize?client_id=codesync-cli" {
		t.Fatalf("result %+v", res)
	}
	d := cfg.Resolve("gh", id.Groups)
	// GitHub names compare case-insensitively: octo-labs matches Octo-Labs.
	// One matching rule has no max_scopes: no ceiling.
	if d.Memberships["octo"] != RoleAdmin || d.Memberships["labs"] != RoleMember || d.ScopesLimited {
		t.Fatalf("desired %+v", d)
	}

	// Removed from the platform team on GitHub.
	gh.removeTeam("platform")
	id2, cred, err := p.Recheck(ctx, "583231", res.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(id2.Groups, "octo-org/platform") || !slices.Contains(id2.Groups, "octo-org") || cred != res.RefreshToken {
		t.Fatalf("after removal: %q %q", id2.Groups, cred)
	}
	current := []Membership{{Org: "octo", Role: RoleAdmin, Source: "gh"}, {Org: "labs", Role: RoleMember, Source: "gh"}}
	changes := Diff("gh", current, cfg.Resolve("gh", id2.Groups))
	if len(changes) != 1 || changes[0] != (Change{Kind: ChangeRemove, Org: "octo", OldRole: RoleAdmin, Source: "gh"}) {
		t.Fatalf("changes %+v", changes)
	}

	// Another subject's token is refused.
	if _, _, err := p.Recheck(ctx, "1", res.RefreshToken); !errors.Is(err, ErrDenied) {
		t.Fatalf("recheck for another user: %v", err)
	}

	// The person revoked the app (or the account was suspended).
	gh.revokeAll()
	_, _, err = p.Recheck(ctx, "583231", res.RefreshToken)
	if !errors.Is(err, ErrDenied) || strings.Contains(err.Error(), "gho_") {
		t.Fatalf("recheck with a revoked token: %v", err)
	}

	// A code used twice (or forged) is refused: GitHub answers 200 with an error.
	q, binding = githubSignIn(t, flow, p)
	if _, err := flow.Callback(ctx, p, q, binding); err != nil {
		t.Fatal(err)
	}
	_, _, err = p.Exchange(ctx, q.Get("code"), "any-verifier", "")
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "bad_verification_code") {
		t.Fatalf("used code: %v", err)
	}

	// The PKCE verifier must match the challenge sent to authorize.
	q, _ = githubSignIn(t, flow, p)
	if _, _, err := p.Exchange(ctx, q.Get("code"), "not-the-verifier-not-the-verifier-not-the-ver", ""); !errors.Is(err, ErrDenied) {
		t.Fatalf("wrong verifier: %v", err)
	}
}

// TestGitHubRecordedFakeWrongSecret: a wrong client secret is refused at
// the token endpoint (GitHub answers 200 with an error).
func TestGitHubRecordedFakeWrongSecret(t *testing.T) {
	gh := newRecordedGitHub(t)
	cfg := gh.config(t)
	cfg.IdentityProviders[0].ClientSecret = Secret{"wrong"}
	providers, _ := NewProviders(cfg, Options{ServerURL: "https://codesync.example"})
	p := providers.Get("gh")
	flow := &Flow{Store: NewMemoryStateStore()}
	q, binding := githubSignIn(t, flow, p)
	_, err := flow.Callback(context.Background(), p, q, binding)
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "incorrect_client_credentials") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong client secret: %v", err)
	}
}

// TestGitHubRecordedFakeExpiringTokens: with GitHub's expiring user tokens
// the refresh token is kept, Recheck refreshes (GitHub rotates it), and a
// used refresh token is refused.
func TestGitHubRecordedFakeExpiringTokens(t *testing.T) {
	gh := newRecordedGitHub(t)
	gh.expiring = true
	cfg := gh.config(t)
	providers, _ := NewProviders(cfg, Options{ServerURL: "https://codesync.example"})
	p := providers.Get("gh")
	flow := &Flow{Store: NewMemoryStateStore()}
	ctx := context.Background()
	q, binding := githubSignIn(t, flow, p)
	res, err := flow.Callback(ctx, p, q, binding)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.RefreshToken, "refresh:ghr_") {
		t.Fatalf("kept credential %q", res.RefreshToken)
	}
	id, next, err := p.Recheck(ctx, "583231", res.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if id.Username != "octocat" || !strings.HasPrefix(next, "refresh:ghr_") || next == res.RefreshToken {
		t.Fatalf("after refresh: %+v %q", id, next)
	}
	_, _, err = p.Recheck(ctx, "583231", res.RefreshToken)
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "bad_refresh_token") || strings.Contains(err.Error(), "ghr_") {
		t.Fatalf("used refresh token: %v", err)
	}
}

// TestUpstreamRedirectsNotFollowed: a token endpoint answering 307 does not
// get the code, verifier and client secret re-sent elsewhere.
func TestUpstreamRedirectsNotFollowed(t *testing.T) {
	var leaked sync.Mutex
	got := 0
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Lock()
		got++
		leaked.Unlock()
	}))
	defer elsewhere.Close()
	gh := newRecordedGitHub(t)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login/oauth/access_token" {
			http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
			return
		}
		gh.srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer redirecting.Close()
	cfg := gh.config(t)
	cfg.IdentityProviders[0].GitHubURL = redirecting.URL
	providers, _ := NewProviders(cfg, Options{ServerURL: "https://codesync.example"})
	p := providers.Get("gh")
	flow := &Flow{Store: NewMemoryStateStore()}
	q, binding := githubSignIn(t, flow, p)
	if _, err := flow.Callback(context.Background(), p, q, binding); err == nil {
		t.Fatal("sign-in succeeded through a redirecting token endpoint")
	}
	leaked.Lock()
	defer leaked.Unlock()
	if got != 0 {
		t.Fatalf("the token request was re-sent to the redirect target (%d requests)", got)
	}
}
