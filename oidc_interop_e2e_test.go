package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/internal/oidcpeer"
	"github.com/codesync/codesync-cli/pkg/auth"
)

// The independent authorization server: the certified npm package
// oidc-provider, configured in testdata/oidcprovider/server.mjs.
const oidcProviderDir = "testdata/oidcprovider"

// startOIDCProvider starts oidc-provider on 127.0.0.1 and returns its
// issuer URL. Without Node.js the test skips, except in CI, where it fails.
func startOIDCProvider(t *testing.T) string { t.Helper(); return startOIDCProviderWith(t) }

// startOIDCProviderWith starts it with extra environment variables
// (OIDC_PEER_FEDERATION: the confidential web client of federated sign-in).
func startOIDCProviderWith(t *testing.T, env ...string) string {
	t.Helper()
	return oidcpeer.Start(t, oidcProviderDir, env...)
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// actAsPerson opens u in a cookie-keeping HTTP client and submits every
// form it meets, as a person clicking "Continue" would: oidc-provider's
// device confirmation, its development sign-in (any login and password)
// and its consent page. It returns the last page.
func actAsPerson(t *testing.T, u, login string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := hc.Get(u)
	for i := 0; ; i++ {
		if err != nil {
			t.Fatalf("browsing %s: %v", u, err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		m := formRE.FindSubmatch(page)
		if m == nil || i == 10 {
			return string(page)
		}
		form := url.Values{}
		for _, in := range hiddenRE.FindAllSubmatch(m[2], -1) {
			form.Set(string(in[1]), string(in[2]))
		}
		if bytes.Contains(m[2], []byte(`name="login"`)) {
			form.Set("login", login)
			form.Set("password", "any password")
		}
		action, perr := res.Request.URL.Parse(string(m[1]))
		if perr != nil {
			t.Fatalf("form action %q", m[1])
		}
		res, err = hc.PostForm(action.String(), form)
	}
}

// storedSession reads the session that the file store holds for issuer.
func storedSession(t *testing.T, dir, issuer string) auth.Session {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Credentials map[string]string `json:"credentials"`
	}
	var s auth.Session
	if json.Unmarshal(b, &f) != nil || json.Unmarshal([]byte(f.Credentials[auth.Account("default", issuer)]), &s) != nil {
		t.Fatalf("credentials.json: %s", b)
	}
	return s
}

// refreshAt asks the provider's token endpoint directly for a refresh and
// returns the OAuth error code ("" on success).
func refreshAt(t *testing.T, issuer, refreshToken string) string {
	t.Helper()
	res, err := http.PostForm(issuer+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {auth.ClientID}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode == 200 {
		return ""
	}
	return body.Error
}

// TestInteropWithOIDCProvider runs the real CLI against an OpenID provider
// this project did not write (oidc-provider, certified): `login --device`,
// `login --web` (PKCE S256, state, RFC 9207 iss, loopback redirect), refresh
// with rotation, and logout with revocation. The provider serves only OpenID
// Connect discovery, as many enterprise providers do, so the CLI's fallback
// from RFC 8414 runs too.
func TestInteropWithOIDCProvider(t *testing.T) {
	issuer := startOIDCProvider(t)
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "url")
	opener := filepath.Join(dir, "open-browser")
	os.WriteFile(opener, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+urlFile+".tmp && mv "+urlFile+".tmp "+urlFile+"\n"), 0o700)
	env := []string{"CODESYNC_SERVER=" + issuer, "CODESYNC_CONFIG_DIR=" + dir, "CODESYNC_KEYRING=file", "CODESYNC_BROWSER=" + opener}

	// device flow: the person enters the code on the provider's pages
	code, done := startLogin(t, env, "--device")
	page := actAsPerson(t, issuer+"/device?user_code="+url.QueryEscape(code), "alice")
	if !strings.Contains(page, "Sign-in Success") {
		t.Fatalf("device approval ended on:\n%s", page)
	}
	exit, stderr := waitExit(t, done)
	if exit != "0" || !strings.Contains(stderr, "Logged in to "+issuer+" as alice (oauth") {
		t.Fatalf("login --device: exit %s\n%s", exit, stderr)
	}
	out, se, ex := runCLI(t, env, "", "auth", "status", "-o", "json")
	if ex != 0 || !strings.Contains(out, `"user":"alice"`) || !strings.Contains(out, `"token_type":"oauth"`) {
		t.Fatalf("auth status: exit %d %s\n%s", ex, out, se)
	}

	// refresh with rotation: the provider's access tokens live 30 s, so
	// every `auth token` (which refreshes within 60 s of expiry) refreshes
	s1 := storedSession(t, dir, issuer)
	if s1.RefreshToken == "" || s1.Expiry.IsZero() {
		t.Fatalf("the device login stored no refresh token or expiry: %+v", s1)
	}
	tok, se, ex := runCLI(t, env, "", "--debug", "auth", "token")
	s2 := storedSession(t, dir, issuer)
	if ex != 0 || strings.TrimSpace(tok) != s2.AccessToken || s2.AccessToken == s1.AccessToken || s2.RefreshToken == s1.RefreshToken {
		t.Fatalf("auth token did not refresh with rotation: exit %d\n%s", ex, se)
	}
	for _, want := range []string{"> POST " + issuer + "/token", "grant_type=refresh_token", "refresh_token=[REDACTED]", "User-Agent: codesync-cli/"} {
		if !strings.Contains(se, want) {
			t.Errorf("the --debug trace of the refresh lacks %q:\n%s", want, se)
		}
	}
	for _, secret := range []string{s1.RefreshToken, s2.RefreshToken, s2.AccessToken} {
		if strings.Contains(se, secret) {
			t.Errorf("the --debug trace shows a token in clear")
		}
	}
	if _, se, ex := runCLI(t, env, "", "auth", "token"); ex != 0 || storedSession(t, dir, issuer).RefreshToken == s2.RefreshToken {
		t.Fatalf("second refresh (with the rotated refresh token): exit %d\n%s", ex, se)
	}
	if code := refreshAt(t, issuer, s1.RefreshToken); code != "invalid_grant" {
		t.Fatalf("the spent refresh token was not refused: %q", code)
	}

	// browser flow, with the provider's sign-in and consent pages
	os.Remove(urlFile)
	cmd := cli(t, env, "login", "--web")
	var webErr syncBuffer
	cmd.Stderr = &webErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var authURL string
	for i := 0; i < 200 && authURL == ""; i++ {
		b, _ := os.ReadFile(urlFile)
		authURL = string(b)
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(authURL, issuer+"/auth?") || !strings.Contains(authURL, "code_challenge_method=S256") || !strings.Contains(authURL, "state=") {
		t.Fatalf("authorization URL %q\n%s", authURL, webErr.String())
	}
	page = actAsPerson(t, authURL, "bob")
	if !strings.Contains(page, "Logged in") {
		t.Fatalf("the CLI's callback page: %s\n%s", page, webErr.String())
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil || !strings.Contains(webErr.String(), "Logged in to "+issuer+" as bob (oauth") {
			t.Fatalf("login --web: %v\n%s", err, webErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("login --web did not finish\n%s", webErr.String())
	}
	web := storedSession(t, dir, issuer)
	if web.User != "bob" || web.RefreshToken == "" {
		t.Fatalf("web session: %+v", web)
	}

	// logout revokes the refresh token at the provider (RFC 7009)
	if _, se, ex := runCLI(t, env, "", "logout"); ex != 0 || strings.Contains(se, "warning") {
		t.Fatalf("logout: exit %d\n%s", ex, se)
	}
	if code := refreshAt(t, issuer, web.RefreshToken); code != "invalid_grant" {
		t.Fatalf("the refresh token still works after logout: %q", code)
	}
}
