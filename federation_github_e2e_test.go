package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/internal/githubfake"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

const githubConfig = `
identity_providers:
  - id: github
    type: github
    client_id: Iv1.recordedfake
    client_secret_file: SECRETFILE
    github_url: GITHUB
    recheck: 0s
mappings:
  - provider: github
    group: octo-org/platform
    org: octo
    role: admin
  - provider: github
    group: octo-org
    org: octo
    role: member
`

// startGitHubFedServer is a server whose sign-in goes to the recorded fake
// of GitHub (internal/githubfake), whose authorize endpoint approves at once.
func startGitHubFedServer(t *testing.T) (*fedServer, *githubfake.Fake) {
	t.Helper()
	gh := githubfake.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFederated(t, ln, strings.ReplaceAll(githubConfig, "GITHUB", gh.URL()), gh.Secret, false, "octo"), gh
}

// TestFederatedGitHubThroughServerRoutes: `login --device` with a GitHub
// OAuth app (the recorded fake): a team maps to an organization role; a
// team removed on GitHub demotes at the next refresh; a revoked app
// cannot refresh (exit 4).
func TestFederatedGitHubThroughServerRoutes(t *testing.T) {
	fs, gh := startGitHubFedServer(t)
	env := []string{"CODESYNC_SERVER=" + fs.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING=file"}
	code, done := startLogin(t, env, "--device")
	octocat := newPerson(t, fs.URL, "")
	octocat.via = "GitHub"
	page := octocat.signInThroughProvider(fs.URL + "/device?user_code=" + code)
	if !strings.Contains(page, "Signed in as <strong>octocat</strong> with GitHub") {
		t.Fatalf("device page after the GitHub sign-in:\n%s", page)
	}
	if res := octocat.approve(page, code, "approve"); !strings.Contains(res, "Device connected") {
		t.Fatalf("approval: %s", res)
	}
	if exit, stderr := waitExit(t, done); exit != "0" {
		t.Fatalf("login --device: exit %s\n%s", exit, stderr)
	}
	st, ex, se := authStatus(t, env)
	if ex != 0 || st.User != "octocat" || st.Provider == nil || *st.Provider != "github" {
		t.Fatalf("auth status: %d %+v %s", ex, st, se)
	}
	if r := fs.roleIn(t, "octocat", "octo", "github"); r != "admin" {
		t.Fatalf("octocat's role: %q, want admin (team octo-org/platform)", r)
	}
	// the upstream credential is stored sealed, never in the clear
	var sealed string
	fs.Store.DB().QueryRow(`SELECT refresh_sealed FROM identities WHERE provider = 'github'`).Scan(&sealed)
	if sealed == "" || strings.Contains(sealed, "gho_") {
		t.Fatalf("stored upstream credential %q", sealed)
	}
	gh.RemoveTeam("platform")
	if _, ex, se := authStatus(t, env); ex != 0 {
		t.Fatalf("after the team change: %d %s", ex, se)
	}
	if r := fs.roleIn(t, "octocat", "octo", "github"); r != "member" {
		t.Fatalf("octocat's role after leaving the team: %q, want member", r)
	}
	gh.RevokeAll()
	if _, se, ex := runCLI(t, env, "", "auth", "token"); ex != 4 {
		t.Fatalf("a revoked GitHub app still refreshes: exit %d %s", ex, se)
	}
}

// TestFederationRoutesRefuse: the start and callback routes refuse an
// unknown provider, a return address off the server, and a callback in a
// browser that did not start the sign-in (login CSRF); the binding cookie
// is HttpOnly and SameSite=Lax.
func TestFederationRoutesRefuse(t *testing.T) {
	fs, _ := startGitHubFedServer(t)
	noFollow := func(jar http.CookieJar) *http.Client {
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	get := func(hc *http.Client, u string) (*http.Response, string) {
		t.Helper()
		res, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}
	hc := noFollow(nil)
	if res, _ := get(hc, fs.URL+"/auth/start/nope?return=/device"); res.StatusCode != 404 {
		t.Errorf("unknown provider: %d", res.StatusCode)
	}
	for _, ret := range []string{"https://evil.example/", "//evil.example/x", `/\evil.example`} {
		if res, _ := get(hc, fs.URL+"/auth/start/github?return="+url.QueryEscape(ret)); res.StatusCode != 400 {
			t.Errorf("return %q: %d, want 400", ret, res.StatusCode)
		}
	}
	// a sign-in started in one browser...
	jar, _ := cookiejar.New(nil)
	victim := noFollow(jar)
	res, _ := get(victim, fs.URL+"/auth/start/github?return=/device")
	if res.StatusCode != 302 {
		t.Fatalf("start: %d", res.StatusCode)
	}
	var binding *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "codesync_fed_binding" {
			binding = c
		}
	}
	if binding == nil || !binding.HttpOnly || binding.SameSite != http.SameSiteLaxMode || binding.Path != "/auth/callback/" {
		t.Fatalf("binding cookie %+v", binding)
	}
	res, _ = get(victim, res.Header.Get("Location")) // GitHub approves
	callback := res.Header.Get("Location")
	if !strings.HasPrefix(callback, fs.URL+"/auth/callback/github?") {
		t.Fatalf("callback %q", callback)
	}
	// ...and its callback opened in another browser (login CSRF): refused
	res, body := get(noFollow(nil), callback)
	if res.StatusCode != 400 || strings.Contains(body, "Signed in") {
		t.Fatalf("callback in another browser: %d %s", res.StatusCode, body)
	}
	for _, c := range res.Cookies() {
		if c.Name == "codesync_session" && c.Value != "" {
			t.Fatal("a session cookie for a callback in another browser")
		}
	}
	// the state is spent: not even the right browser can use it now
	if res, _ := get(victim, callback); res.StatusCode != 400 {
		t.Fatalf("a spent state: %d", res.StatusCode)
	}
	// the right browser, a fresh sign-in: a session cookie, back to the page
	res, _ = get(victim, fs.URL+"/auth/start/github?return=/device")
	res, _ = get(victim, res.Header.Get("Location"))
	res, _ = get(victim, res.Header.Get("Location"))
	if res.StatusCode != 302 || res.Header.Get("Location") != "/device" {
		t.Fatalf("callback: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	var sess *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "codesync_session" {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure {
		t.Fatalf("session cookie %+v (http: not Secure)", sess)
	}
}

// TestFederatedSessionCeiling: keys created by a federated session stay
// within its identity's max_scopes, even when the session's access token
// holds more (issued before a re-check narrowed them).
func TestFederatedSessionCeiling(t *testing.T) {
	fs, _ := startGitHubFedServer(t)
	octocat := newPerson(t, fs.URL, "")
	octocat.via = "GitHub"
	octocat.signInThroughProvider(fs.URL + "/device")
	ctx := context.Background()
	idn, err := fs.Store.IdentityBySubject(ctx, "github", githubfake.Subject)
	if err != nil {
		t.Fatal(err)
	}
	idn.ScopesLimited, idn.MaxScopes = true, []string{"keys:read", "keys:write", "registry:read"}
	if err := fs.Store.UpdateIdentity(ctx, idn); err != nil {
		t.Fatal(err)
	}
	if err := fs.Store.SetSessionProvider(ctx, "fam_wide", "github", time.Now()); err != nil {
		t.Fatal(err)
	}
	access := "csa_wide" + strings.Repeat("a", 36)
	h := sha256.Sum256([]byte(access))
	now := time.Now()
	wide := []string{"keys:read", "keys:write", "registry:read", "registry:publish"}
	if err := fs.Store.IssueTokens(ctx,
		&store.OAuthToken{ID: "tok_wa", FamilyID: "fam_wide", UserID: idn.UserID, Kind: "access", Hash: h[:], Scopes: wide, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		&store.OAuthToken{ID: "tok_wr", FamilyID: "fam_wide", UserID: idn.UserID, Kind: "refresh", Hash: []byte("unused-refresh-hash-wide"), Scopes: wide, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	create := func(scopes ...string) (int, string) {
		b, _ := json.Marshal(map[string]any{"name": "k" + strings.Join(scopes, ""), "scopes": scopes, "expires_in": 86400})
		req, _ := http.NewRequest("POST", fs.URL+"/v1/keys", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(body)
	}
	if code, body := create("registry:publish"); code != 403 || !strings.Contains(body, "insufficient_scope") {
		t.Fatalf("a key beyond max_scopes: %d %s", code, body)
	}
	if code, body := create("registry:read"); code != 201 {
		t.Fatalf("a key within max_scopes: %d %s", code, body)
	}
	// whoami names the provider
	req, _ := http.NewRequest("GET", fs.URL+"/v1/auth/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"provider":"github"`) {
		t.Fatalf("whoami: %s", body)
	}
}

// TestServerConfigFlag: `codesync-cli server --server-config FILE
// --disable-local-login` (the real binary) offers the providers' links and
// no password form, and creates the server secret next to the database,
// readable by its owner only.
func TestServerConfigFlag(t *testing.T) {
	gh := githubfake.New(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "github.secret")
	os.WriteFile(secretFile, []byte(gh.Secret+"\n"), 0o600)
	cfgFile := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfgFile, []byte(strings.NewReplacer("SECRETFILE", secretFile, "GITHUB", gh.URL()).Replace(githubConfig)), 0o600)
	db := filepath.Join(dir, "db.sqlite")
	cmd := cli(t, nil, "server", "--db", db, "--addr", "127.0.0.1:0", "--server-config", cfgFile, "--disable-local-login")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	banner := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	base := ""
	for i := 0; i < 200 && base == ""; i++ {
		if m := banner.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	if base == "" {
		t.Fatalf("the server did not start:\n%s", stderr.String())
	}
	res, err := http.Get(base + "/device?user_code=BCDF-GHJK")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), `href="/auth/start/github?return=%2Fdevice%3Fuser_code%3DBCDF-GHJK">Sign in with GitHub</a>`) || strings.Contains(string(page), `name="password"`) {
		t.Fatalf("device page:\n%s", page)
	}
	fi, err := os.Stat(db + ".secret")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("server secret: %v %v", fi, err)
	}
	if strings.Contains(stderr.String(), gh.Secret) {
		t.Fatal("the client secret is in the server's log")
	}
}
