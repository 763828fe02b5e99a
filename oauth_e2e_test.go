package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

var (
	userCodeRE = regexp.MustCompile(`\b([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})\b`)
	csrfRE     = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// approveDevice signs in on the /device page over HTTP, as a person would:
// GET for the form and its CSRF cookie, then POST it back.
func approveDevice(t *testing.T, base, userCode, password, action string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	res, err := hc.Get(base + "/device")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in the device page:\n%s", page)
	}
	form := url.Values{"username": {"dev"}, "password": {password}, "user_code": {userCode}, "csrf_token": {string(m[1])}, "action": {action}}
	res, err = hc.PostForm(base+"/device", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return string(body)
}

// startLogin runs `codesync-cli login ARGS` and returns the user code it
// prints, and a channel with its exit code and stderr.
func startLogin(t *testing.T, env []string, args ...string) (string, chan [2]string) {
	t.Helper()
	cmd := cli(t, env, append([]string{"login"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan [2]string, 1)
	codeCh := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if m := userCodeRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				codeCh <- m[1]
				sent = true
			}
		}
		err := cmd.Wait()
		code := "0"
		if err != nil {
			code = fmt.Sprint(cmd.ProcessState.ExitCode())
		}
		if !sent {
			codeCh <- ""
		}
		done <- [2]string{code, all.String()}
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case c := <-codeCh:
		if c == "" {
			r := <-done
			t.Fatalf("login printed no user code: exit %s\n%s", r[0], r[1])
		}
		return c, done
	case <-time.After(20 * time.Second):
		t.Fatal("no user code within 20 s")
	}
	return "", nil
}

func waitExit(t *testing.T, done chan [2]string) (string, string) {
	t.Helper()
	select {
	case r := <-done:
		return r[0], r[1]
	case <-time.After(30 * time.Second):
		t.Fatal("login did not finish")
	}
	return "", ""
}

func TestDeviceLoginApprovedOnThePage(t *testing.T) {
	ts := startServer(t, server.Config{DeviceInterval: time.Second})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING=file"}
	code, done := startLogin(t, env, "--device")
	// the page accepts the code in any case, without the dash
	page := approveDevice(t, ts.URL, strings.ToLower(strings.ReplaceAll(code, "-", "")), ts.Password, "approve")
	if !strings.Contains(page, "Device connected") {
		t.Fatalf("approval page: %s", page)
	}
	exit, stderr := waitExit(t, done)
	if exit != "0" || !strings.Contains(stderr, "Logged in to "+ts.URL+" as dev (oauth") {
		t.Fatalf("exit %s:\n%s", exit, stderr)
	}
	out, _, exitS := runCLI(t, env, "", "auth", "status", "-o", "json")
	if exitS != 0 || !strings.Contains(out, `"token_type":"oauth"`) || !strings.Contains(out, `"source":"file"`) || strings.Contains(out, `"provider"`) {
		t.Fatalf("auth status: %d %s", exitS, out)
	}
	// the session works for API calls and logout revokes it on the server
	if _, se, ex := runCLI(t, env, "", "key", "list"); ex != 0 {
		t.Fatalf("key list with the OAuth session: %d %s", ex, se)
	}
	tok, _, _ := runCLI(t, env, "", "auth", "token")
	if _, se, ex := runCLI(t, env, "", "logout"); ex != 0 {
		t.Fatalf("logout: %s", se)
	}
	env2 := append(env, "CODESYNC_AUTH_TOKEN="+strings.TrimSpace(tok))
	if _, se, ex := runCLI(t, env2, "", "key", "list"); ex != 4 || !strings.Contains(se, "revoked") {
		t.Fatalf("a revoked session still works: %d %s", ex, se)
	}
}

func TestDeviceLoginDeniedExits4(t *testing.T) {
	ts := startServer(t, server.Config{DeviceInterval: time.Second})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING=file"}
	code, done := startLogin(t, env, "--device")
	approveDevice(t, ts.URL, code, ts.Password, "deny")
	exit, stderr := waitExit(t, done)
	if exit != "4" || !strings.Contains(stderr, "denied") {
		t.Fatalf("want exit 4 with 'denied', got %s:\n%s", exit, stderr)
	}
}

// issueSession stores an OAuth token pair in the server, as a login would,
// and returns the tokens.
func issueSession(t *testing.T, ts *testServer, family string) (access, refresh string) {
	t.Helper()
	access, refresh = "csa_test"+family+strings.Repeat("a", 30), "csr_test"+family+strings.Repeat("r", 30)
	h := func(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }
	now := time.Now()
	scopes := auth.DefaultScopes
	err := ts.Store.IssueTokens(context.Background(),
		&store.OAuthToken{ID: "tok_a" + family, FamilyID: "fam_" + family, UserID: 1, Kind: "access", Hash: h(access), Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour)},
		&store.OAuthToken{ID: "tok_r" + family, FamilyID: "fam_" + family, UserID: 1, Kind: "refresh", Hash: h(refresh), Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return access, refresh
}

// writeFileSession stores a session in credentials.json with an expiry.
func writeFileSession(t *testing.T, dir, server, access, refresh string, expiry time.Time) {
	t.Helper()
	s, _ := json.Marshal(auth.Session{Type: auth.TypeOAuth, AccessToken: access, RefreshToken: refresh, Expiry: expiry, Scopes: auth.DefaultScopes, User: "dev"})
	b, _ := json.Marshal(map[string]any{"version": 1, "credentials": map[string]string{auth.Account("default", server): string(s)}})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentRefreshHappensOnce(t *testing.T) {
	ts := startServer(t, server.Config{})
	access, refresh := issueSession(t, ts, "c1")
	dir := t.TempDir()
	// the stored access token "expired" a minute ago
	writeFileSession(t, dir, ts.URL, access, refresh, time.Now().Add(-time.Minute))
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + dir, "CODESYNC_KEYRING=file"}
	var wg sync.WaitGroup
	fails := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, se, ex := runCLI(t, env, "", "key", "list", "-o", "json"); ex != 0 {
				fails <- fmt.Sprintf("exit %d: %s", ex, se)
			}
		}()
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
	if n := ts.Srv.Refreshes(); n != 1 {
		t.Fatalf("20 processes caused %d refreshes, want exactly 1", n)
	}
	// replaying the spent refresh token revokes the whole family...
	res, err := http.PostForm(ts.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"codesync-cli"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(body), "invalid_grant") {
		t.Fatalf("replay: %d %s", res.StatusCode, body)
	}
	// ...so the next command, holding the fresh access token, must log in again
	_, se, ex := runCLI(t, env, "", "key", "list")
	if ex != 4 || !strings.Contains(se, "log in again") {
		t.Fatalf("after reuse: exit %d %s", ex, se)
	}
}

func TestExpiredSessionThatCannotRefreshExits4(t *testing.T) {
	ts := startServer(t, server.Config{})
	access, _ := issueSession(t, ts, "c2")
	dir := t.TempDir()
	writeFileSession(t, dir, ts.URL, access, "csr_unknown", time.Now().Add(-time.Minute))
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + dir, "CODESYNC_KEYRING=file"}
	_, se, ex := runCLI(t, env, "", "key", "list")
	if ex != 4 || !strings.Contains(se, "run 'codesync-cli login' again") {
		t.Fatalf("exit %d: %s", ex, se)
	}
}

// TestHealthDegradedExits1: failed sign-ins at the threshold make `health`
// report degraded and exit 1; before that it exits 0.
func TestHealthDegradedExits1(t *testing.T) {
	ts := startServer(t, server.Config{FailedLoginThreshold: 2})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir()}
	if out, _, ex := runCLI(t, env, "", "health"); ex != 0 || !strings.Contains(out, "status: ok") {
		t.Fatalf("healthy: %d %s", ex, out)
	}
	res, err := http.PostForm(ts.URL+"/oauth/device/code", url.Values{"client_id": {"codesync-cli"}})
	if err != nil {
		t.Fatal(err)
	}
	var da struct {
		UserCode string `json:"user_code"`
	}
	json.NewDecoder(res.Body).Decode(&da)
	res.Body.Close()
	for i := 0; i < 2; i++ {
		approveDevice(t, ts.URL, da.UserCode, "wrong password", "approve")
	}
	out, se, ex := runCLI(t, env, "", "health", "-o", "json")
	if ex != 1 || !strings.Contains(out, `"status":"degraded"`) || !strings.Contains(se, "degraded") {
		t.Fatalf("degraded: %d %s %s", ex, out, se)
	}
}
