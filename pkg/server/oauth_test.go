package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
)

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func noRedirect() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk0123456789"

func challenge(v string) string {
	h := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func authorizeURL(base string, mod func(url.Values)) string {
	q := url.Values{"client_id": {"codesync-cli"}, "redirect_uri": {"http://127.0.0.1:5555/callback"}, "response_type": {"code"},
		"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}, "state": {"st4te-xyz"}, "scope": {"keys:read"}}
	if mod != nil {
		mod(q)
	}
	return base + "/oauth/authorize?" + q.Encode()
}

// signInAt GETs the form, then POSTs it with the given fields.
func signInAt(t *testing.T, hc *http.Client, page string, fields url.Values) *http.Response {
	t.Helper()
	res, err := hc.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no form at %s: %d %s", page, res.StatusCode, body)
	}
	if fields.Get("csrf_token") == "" {
		fields.Set("csrf_token", string(m[1]))
	}
	res, err = hc.PostForm(page, fields)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func tokenReq(t *testing.T, base string, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	form.Set("client_id", "codesync-cli")
	res, err := http.PostForm(base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m, res.Header
}

func devPassword(t *testing.T, e *env) string {
	t.Helper()
	// BootstrapDev in start() set a password we did not keep: set a known one
	pw := "correct horse battery"
	if err := e.st.SetPassword(t.Context(), "dev", server.HashPassword(pw)); err != nil {
		t.Fatal(err)
	}
	return pw
}

func TestAuthorizeRefusesBadRequests(t *testing.T) {
	e := start(t, server.Config{})
	hc := noRedirect()
	// a bad redirect_uri or client_id is an error page, never a redirect
	for _, mod := range []func(url.Values){
		func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") },
		func(q url.Values) { q.Set("redirect_uri", "http://10.0.0.1:80/cb") },
		func(q url.Values) { q.Set("client_id", "other") },
	} {
		res, _ := hc.Get(authorizeURL(e.ts.URL, mod))
		res.Body.Close()
		if res.StatusCode != 400 || res.Header.Get("Location") != "" {
			t.Fatalf("want a 400 page, got %d Location=%q", res.StatusCode, res.Header.Get("Location"))
		}
	}
	// PKCE plain (or none) is refused with a redirect carrying the error and state
	for _, mod := range []func(url.Values){
		func(q url.Values) { q.Set("code_challenge_method", "plain"); q.Set("code_challenge", verifier) },
		func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
	} {
		res, _ := hc.Get(authorizeURL(e.ts.URL, mod))
		res.Body.Close()
		loc, _ := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != 302 || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st4te-xyz" {
			t.Fatalf("PKCE not enforced: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
	}
}

func TestAuthorizationCodeFlow(t *testing.T) {
	e := start(t, server.Config{})
	pw := devPassword(t, e)
	hc := noRedirect()
	page := authorizeURL(e.ts.URL, nil)

	// without the CSRF pair the form is refused
	res := signInAt(t, hc, page, url.Values{"username": {"dev"}, "password": {pw}, "action": {"approve"}, "csrf_token": {"forged"}})
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(body), "form expired") {
		t.Fatalf("forged CSRF accepted: %d", res.StatusCode)
	}

	res = signInAt(t, hc, page, url.Values{"username": {"dev"}, "password": {pw}, "action": {"approve"}})
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	code := loc.Query().Get("code")
	if res.StatusCode != 302 || loc.Host != "127.0.0.1:5555" || loc.Query().Get("state") != "st4te-xyz" || code == "" {
		t.Fatalf("approve: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	redirect := "http://127.0.0.1:5555/callback"
	// no verifier, wrong verifier: refused
	if st, m, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}); st != 400 || m["error"] != "invalid_request" {
		t.Fatalf("no verifier: %d %v", st, m)
	}
	// (a refused exchange above did not spend the code: it never reached it)
	st, m, h := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	if st != 200 || m["access_token"] == nil || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("exchange: %d %v %v", st, m, h)
	}
	access := m["access_token"].(string)
	refresh := m["refresh_token"].(string)
	r := e.do("GET", "/v1/auth/whoami", access, nil)
	var who model.WhoAmI
	json.Unmarshal(r.body, &who)
	if r.status != 200 || who.Credential.Type != "oauth" || who.User.Name != "dev" {
		t.Fatalf("whoami: %d %s", r.status, r.body)
	}
	// the code is single use, and its reuse revokes what it issued
	if st, m, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("reused code: %d %v", st, m)
	}
	expect(t, e.do("GET", "/v1/auth/whoami", access, nil), 401, "invalid_token")
	if st, _, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); st != 400 {
		t.Fatal("the refresh token of a reused code still works")
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := start(t, server.Config{})
	pw := devPassword(t, e)
	hc := noRedirect()
	res := signInAt(t, hc, authorizeURL(e.ts.URL, nil), url.Values{"username": {"dev"}, "password": {pw}, "action": {"approve"}})
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	_, m, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:5555/callback"}, "code_verifier": {verifier}})
	r1 := m["refresh_token"].(string)
	st, m2, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r1}})
	if st != 200 || m2["refresh_token"] == r1 {
		t.Fatalf("refresh did not rotate: %d %v", st, m2)
	}
	a2 := m2["access_token"].(string)
	expect(t, e.do("GET", "/v1/auth/whoami", a2, nil), 200, "")
	// reuse of the spent refresh token revokes the family, the new tokens too
	if st, m, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r1}}); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", st, m)
	}
	expect(t, e.do("GET", "/v1/auth/whoami", a2, nil), 401, "invalid_token")
	if st, _, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m2["refresh_token"].(string)}}); st != 400 {
		t.Fatal("the rotated refresh token survived a reuse")
	}
	// revocation answers 200 even for unknown tokens
	res, _ = http.PostForm(e.ts.URL+"/oauth/revoke", url.Values{"token": {"nonsense"}, "client_id": {"codesync-cli"}})
	if res.StatusCode != 200 {
		t.Fatalf("revoke unknown: %d", res.StatusCode)
	}
	res, _ = http.PostForm(e.ts.URL+"/oauth/introspect", url.Values{"token": {a2}})
	var in map[string]any
	json.NewDecoder(res.Body).Decode(&in)
	if in["active"] != false {
		t.Fatalf("introspect of a revoked token: %v", in)
	}
}

func TestFailedSignInsAreCountedAndThrottled(t *testing.T) {
	e := start(t, server.Config{FailedLoginThreshold: 3})
	pw := devPassword(t, e)
	hc := noRedirect()
	page := authorizeURL(e.ts.URL, nil)
	for i := 0; i < 5; i++ {
		res := signInAt(t, hc, page, url.Values{"username": {"dev"}, "password": {"wrong"}, "action": {"approve"}})
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Fatalf("wrong password answered %d", res.StatusCode)
		}
	}
	// now even the right password is refused for a while
	res := signInAt(t, hc, page, url.Values{"username": {"dev"}, "password": {pw}, "action": {"approve"}})
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == 302 || !strings.Contains(string(body), "Too many failed sign-ins") {
		t.Fatalf("not throttled: %d", res.StatusCode)
	}
	r := e.do("GET", "/v1/auth/health", "", nil)
	var h model.Health
	json.Unmarshal(r.body, &h)
	if h.FailedLoginsLastHour < 5 || h.Status != "degraded" {
		t.Fatalf("health: %s", r.body)
	}
}

func TestDeviceCodeShape(t *testing.T) {
	e := start(t, server.Config{})
	res, _ := http.PostForm(e.ts.URL+"/oauth/device/code", url.Values{"client_id": {"codesync-cli"}, "scope": {"keys:read"}})
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	res.Body.Close()
	if len(m["device_code"].(string)) < 22 || !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(m["user_code"].(string)) {
		t.Fatalf("%v", m)
	}
	st, tm, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {m["device_code"].(string)}})
	if st != 400 || tm["error"] != "authorization_pending" {
		t.Fatalf("%d %v", st, tm)
	}
}
