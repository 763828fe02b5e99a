package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/server"
)

// scriptedAS is a minimal authorization + resource server on loopback whose
// answers a test sets: metadata (over the defaults), the device flow's token
// answer, and whoami. It records every request.
type scriptedAS struct {
	*httptest.Server
	mu    sync.Mutex
	meta  map[string]any
	token map[string]any
	reqs  []string
	forms []url.Values
}

func newScriptedAS(t *testing.T) *scriptedAS {
	t.Helper()
	a := &scriptedAS{token: map[string]any{"access_token": "at-scripted-0123456789", "token_type": "Bearer", "expires_in": 3600}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		a.mu.Lock()
		defer a.mu.Unlock()
		a.reqs = append(a.reqs, r.Method+" "+r.URL.Path)
		a.forms = append(a.forms, r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			m := map[string]any{"issuer": a.URL, "token_endpoint": a.URL + "/token", "device_authorization_endpoint": a.URL + "/device/code", "revocation_endpoint": a.URL + "/revoke"}
			for k, v := range a.meta {
				m[k] = v
			}
			json.NewEncoder(w).Encode(m)
		case "/device/code":
			json.NewEncoder(w).Encode(map[string]any{"device_code": "dc-scripted-0123456789", "user_code": "BCDF-GHJK", "verification_uri": a.URL + "/device", "expires_in": 60, "interval": 1})
		case "/token":
			json.NewEncoder(w).Encode(a.token)
		case "/v1/auth/whoami":
			if r.Header.Get("Authorization") != "Bearer "+a.token["access_token"].(string) {
				w.WriteHeader(401)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token"})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"user": map[string]string{"name": "dev"}, "credential": map[string]any{"type": "oauth", "id": "tok_1", "scopes": auth.DefaultScopes}})
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

// set replaces the metadata overrides and the token answer (nil: kept).
func (a *scriptedAS) set(meta, token map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if meta != nil {
		a.meta = meta
	}
	if token != nil {
		a.token = token
	}
}

func (a *scriptedAS) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.reqs...)
}

// Issue 13 item 1: a metadata document naming another issuer stops `login`
// before a code is requested or shown.
func TestLoginRefusesAnotherIssuerBeforeAnyInteraction(t *testing.T) {
	a := newScriptedAS(t)
	a.set(map[string]any{"issuer": "https://issuer.invalid"}, nil)
	env := []string{"CODESYNC_SERVER=" + a.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING=file"}
	_, se, ex := runCLI(t, env, "", "login", "--device")
	if ex != 1 || !strings.Contains(se, `names the issuer "https://issuer.invalid"`) || strings.Contains(se, "To log in") {
		t.Fatalf("exit %d:\n%s", ex, se)
	}
	if r := a.requests(); len(r) != 1 {
		t.Fatalf("requests after the metadata: %v", r)
	}
	// a mix-up: the metadata names another server with its own endpoints
	evil := newScriptedAS(t)
	a.set(map[string]any{"issuer": evil.URL, "token_endpoint": evil.URL + "/token", "device_authorization_endpoint": evil.URL + "/device/code"}, nil)
	_, se, ex = runCLI(t, env, "", "login", "--device")
	if ex != 1 || !strings.Contains(se, `names the issuer "`+evil.URL+`"`) || len(evil.requests()) != 0 {
		t.Fatalf("exit %d, the other server saw %v:\n%s", ex, evil.requests(), se)
	}
}

// Issue 12 item 8 / issue 13 item 6: `auth token` with a session to refresh
// and metadata whose token endpoint is on another host never sends the
// refresh token there.
func TestRefreshNeverGoesToAForeignTokenEndpoint(t *testing.T) {
	foreign := newScriptedAS(t)
	a := newScriptedAS(t)
	a.set(map[string]any{"token_endpoint": foreign.URL + "/token"}, nil)
	dir := t.TempDir()
	writeFileSession(t, dir, a.URL, "at-old-0123456789", "rt-SECRET-0123456789", time.Now().Add(-time.Minute))
	env := []string{"CODESYNC_SERVER=" + a.URL, "CODESYNC_CONFIG_DIR=" + dir, "CODESYNC_KEYRING=file"}
	out, se, ex := runCLI(t, env, "", "auth", "token")
	if ex == 0 || out != "" || !strings.Contains(se, "token_endpoint") || !strings.Contains(se, "not on the issuer's origin") {
		t.Fatalf("exit %d, stdout %q:\n%s", ex, out, se)
	}
	if r := foreign.requests(); len(r) != 0 {
		t.Fatalf("the foreign host received %v", r)
	}
	// named in the profile as the issuer, that host is trusted
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("profiles:\n  default:\n    oauth_issuer: "+foreign.URL+"\n"), 0o600)
	foreign.set(nil, map[string]any{"access_token": "at-new-0123456789", "refresh_token": "rt-new-0123456789", "token_type": "Bearer", "expires_in": 3600})
	out, se, ex = runCLI(t, env, "", "auth", "token")
	if ex != 0 || strings.TrimSpace(out) != "at-new-0123456789" {
		t.Fatalf("refresh at the configured issuer: exit %d %q\n%s", ex, out, se)
	}
	if r := foreign.requests(); len(r) != 2 || r[0] != "GET /.well-known/oauth-authorization-server" || r[1] != "POST /token" {
		t.Fatalf("requests to the configured issuer: %v", r)
	}
}

// Issue 13 item 4: a device login whose token answer has neither expires_in
// nor a refresh token stores an unknown expiry; `auth status` right after
// works (it used to say the session had expired: exit 4).
func TestDeviceLoginWithoutExpiresIn(t *testing.T) {
	a := newScriptedAS(t)
	a.set(nil, map[string]any{"access_token": "at-no-expiry-0123456789", "token_type": "Bearer"})
	env := []string{"CODESYNC_SERVER=" + a.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING=file"}
	if _, se, ex := runCLI(t, env, "", "login", "--device"); ex != 0 {
		t.Fatalf("login: exit %d\n%s", ex, se)
	}
	out, se, ex := runCLI(t, env, "", "auth", "status", "-o", "json")
	if ex != 0 || !strings.Contains(out, `"logged_in":true`) {
		t.Fatalf("auth status after login: exit %d %s\n%s", ex, out, se)
	}
}

// Issue 13 item 4: a session with an unknown expiry (a web login whose
// token answer had no expires_in) whose access token the server refuses is
// refreshed once and the request sent again.
func TestUnknownExpirySessionRefreshesOn401(t *testing.T) {
	ts := startServer(t, server.Config{})
	_, refresh := issueSession(t, ts, "u1")
	dir := t.TempDir()
	writeFileSession(t, dir, ts.URL, "csa_"+strings.Repeat("x", 40), refresh, time.Time{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + dir, "CODESYNC_KEYRING=file"}
	if _, se, ex := runCLI(t, env, "", "key", "list"); ex != 0 {
		t.Fatalf("key list: exit %d\n%s", ex, se)
	}
	if n := ts.Srv.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if strings.Contains(string(b), refresh) {
		t.Fatal("the rotated refresh token was not stored")
	}
	// the next command uses the new token without another refresh
	if _, se, ex := runCLI(t, env, "", "key", "list"); ex != 0 || ts.Srv.Refreshes() != 1 {
		t.Fatalf("second key list: exit %d, %d refreshes\n%s", ex, ts.Srv.Refreshes(), se)
	}
}

// Issue 13 item 5: `--debug login --device` shows the device authorization
// and the polls, with the CLI's User-Agent and no device code or token.
func TestDebugTracesTheOAuthTraffic(t *testing.T) {
	ts := startServer(t, server.Config{DeviceInterval: time.Second})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING=file"}
	code, done := startLogin(t, env, "--device", "--debug")
	approveDevice(t, ts.URL, code, ts.Password, "approve")
	exit, stderr := waitExit(t, done)
	if exit != "0" {
		t.Fatalf("exit %s:\n%s", exit, stderr)
	}
	for _, want := range []string{
		"> POST " + ts.URL + "/oauth/device/code",
		"> POST " + ts.URL + "/oauth/token",
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
		"device_code=[REDACTED]",
		`"access_token":"[REDACTED]"`,
		`"refresh_token":"[REDACTED]"`,
		"User-Agent: codesync-cli/",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the trace lacks %q", want)
		}
	}
	if strings.Contains(stderr, "Go-http-client") {
		t.Error("an OAuth request went out with Go's User-Agent")
	}
	tok, _, _ := runCLI(t, env, "", "auth", "token")
	if tok = strings.TrimSpace(tok); len(tok) < 20 || strings.Contains(stderr, tok) {
		t.Fatalf("the access token shows in the trace (or no token: %q)", tok)
	}
}
