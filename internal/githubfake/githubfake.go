// Package githubfake is a RECORDED FAKE of GitHub for tests: the OAuth app
// endpoints of github.com (/login/oauth/authorize, /login/oauth/access_token)
// and the REST API calls CodeSync's GitHub provider makes (/user,
// /user/orgs, /user/teams), answering with the JSON of testdata/ (GitHub's
// documented answers) and GitHub's status codes and headers (form-encoded
// token answers, HTTP 200 with "error" for a bad code, 401 "Bad
// credentials", Link pagination). It checks what GitHub checks: client id
// and secret, the single-use code and its PKCE S256 challenge, the bearer
// token. It is not GitHub: the real API is not reachable from the tests.
// Its authorize endpoint stands for the person approving the app: it
// redirects to redirect_uri with a code at once.
package githubfake

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// ClientID is the OAuth app's client id the fake accepts.
const ClientID = "Iv1.recordedfake"

// Subject is the numeric user id of the fake's user, octocat.
const Subject = "583231"

//go:embed testdata/*.json
var fixtures embed.FS

// Fake is a running recorded fake of GitHub on 127.0.0.1.
type Fake struct {
	t      testing.TB
	Srv    *httptest.Server
	Secret string // the OAuth app's client secret

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

// RandomString is n random bytes, base64url.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// New starts the fake; it stops at the end of the test.
func New(t testing.TB) *Fake {
	f := &Fake{t: t, Secret: RandomString(20), codes: map[string]ghCode{},
		tokens: map[string]bool{}, removedTeams: map[string]bool{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", f.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", f.accessToken)
	mux.HandleFunc("GET /api/v3/user", f.api("user.json"))
	mux.HandleFunc("GET /api/v3/user/orgs", f.orgs)
	mux.HandleFunc("GET /api/v3/user/teams", f.teams)
	f.Srv = httptest.NewServer(mux) // 127.0.0.1, a free port
	t.Cleanup(f.Srv.Close)
	return f
}

// URL is the fake's base URL (the github_url of a GitHub Enterprise set-up).
func (f *Fake) URL() string { return f.Srv.URL }

func (f *Fake) fixture(name string) []byte {
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		f.t.Error(err)
	}
	return b
}

// authorize stands for the person approving the app on github.com.
func (f *Fake) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != ClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	if !slices.Equal(strings.Split(q.Get("scope"), " "), []string{"read:user", "user:email", "read:org"}) {
		http.Error(w, "unexpected scope "+q.Get("scope"), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	code := "fakecode" + RandomString(10)
	f.codes[code] = ghCode{redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	f.mu.Unlock()
	u, _ := url.Parse(q.Get("redirect_uri"))
	u.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (f *Fake) accessToken(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.PostForm.Get("client_id") != ClientID || r.PostForm.Get("client_secret") != f.Secret {
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

func (f *Fake) issue(w http.ResponseWriter) {
	tok := "gho_" + RandomString(27)
	v := url.Values{"access_token": {tok}, "scope": {"read:org,read:user,user:email"}, "token_type": {"bearer"}}
	f.mu.Lock()
	f.tokens[tok] = true
	if f.expiring {
		v.Set("access_token", "ghu_"+RandomString(27))
		delete(f.tokens, tok)
		f.tokens[v.Get("access_token")] = true
		rt := "ghr_" + RandomString(60)
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

func (f *Fake) authorized(w http.ResponseWriter, r *http.Request) bool {
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

func (f *Fake) api(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.authorized(w, r) {
			w.Write(f.fixture(name))
		}
	}
}

func (f *Fake) orgs(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	if r.URL.Query().Get("page") == "2" {
		w.Write(f.fixture("user_orgs_page2.json"))
		return
	}
	next := f.Srv.URL + "/api/v3/user/orgs?per_page=100&page=2"
	w.Header().Set("Link", `<`+next+`>; rel="next", <`+next+`>; rel="last"`)
	w.Write(f.fixture("user_orgs_page1.json"))
}

func (f *Fake) teams(w http.ResponseWriter, r *http.Request) {
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

// RemoveTeam removes the user from a team (by slug) on "GitHub".
func (f *Fake) RemoveTeam(slug string) {
	f.mu.Lock()
	f.removedTeams[slug] = true
	f.mu.Unlock()
}

// RevokeAll revokes every token issued (the person revoked the app, or
// the account was suspended).
func (f *Fake) RevokeAll() {
	f.mu.Lock()
	clear(f.tokens)
	f.mu.Unlock()
}

// SetExpiring switches to GitHub's "expiring user tokens": refresh tokens,
// rotated at each use.
func (f *Fake) SetExpiring(on bool) {
	f.mu.Lock()
	f.expiring = on
	f.mu.Unlock()
}
