package federation

import (
	"context"
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

	"github.com/codesync/codesync-cli/internal/githubfake"
)

// The recorded fake of GitHub's OAuth endpoints and REST API is
// internal/githubfake (shared with the server's tests).

func ghConfig(f *githubfake.Fake, t *testing.T) *Config {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "github.secret")
	if err := os.WriteFile(secretFile, []byte(f.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(`
identity_providers:
  - id: gh
    type: github
    client_id: Iv1.recordedfake
    client_secret_file: `+secretFile+`
    github_url: `+f.Srv.URL+`
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
	gh := githubfake.New(t)
	cfg := ghConfig(gh, t)
	pc, _ := cfg.Provider("gh")
	if pc.APIURL != gh.Srv.URL+"/api/v3" || pc.Name != "GitHub" || pc.ClientSecret.Reveal() != gh.Secret {
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
	gh.RemoveTeam("platform")
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
	gh.RevokeAll()
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
	gh := githubfake.New(t)
	cfg := ghConfig(gh, t)
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
	gh := githubfake.New(t)
	gh.SetExpiring(true)
	cfg := ghConfig(gh, t)
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
	gh := githubfake.New(t)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login/oauth/access_token" {
			http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
			return
		}
		gh.Srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer redirecting.Close()
	cfg := ghConfig(gh, t)
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
