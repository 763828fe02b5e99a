package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
)

// TestScopeHintAndAuthRefresh: a missing scope's hint names the exact fix,
// and `auth refresh --scopes` adds the scope to the OAuth session by a new
// device authorization, without logging out (issue 14.17).
func TestScopeHintAndAuthRefresh(t *testing.T) {
	ts := startServer(t, server.Config{DeviceInterval: time.Second})
	access, refresh := issueSession(t, ts, "rf1")
	dir := t.TempDir()
	writeFileSession(t, dir, ts.URL, access, refresh, time.Now().Add(2*time.Hour))
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + dir, "CODESYNC_KEYRING=file"}

	_, se, code := runCLI(t, env, "", "key", "create", "publisher", "--scopes", "registry:publish")
	if code != 5 {
		t.Fatalf("exit %d, want 5: %s", code, se)
	}
	for _, want := range []string{"'codesync-cli auth refresh --scopes registry:publish'", "'codesync-cli login --scopes keys:read,keys:write,audit:read,registry:read,registry:publish'"} {
		if !strings.Contains(se, want) {
			t.Fatalf("hint lacks %s:\n%s", want, se)
		}
	}

	cmd := cli(t, env, "auth", "refresh", "--scopes", "registry:publish", "--device")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	codeCh, all := make(chan string, 1), make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if m := userCodeRE.FindStringSubmatch(sc.Text()); m != nil {
				codeCh <- m[1]
			}
		}
		all <- b.String()
	}()
	select {
	case uc := <-codeCh:
		approveDevice(t, ts.URL, uc, ts.Password, "approve")
	case <-time.After(20 * time.Second):
		t.Fatal("no user code")
	}
	errDone := make(chan error, 1)
	go func() { errDone <- cmd.Wait() }()
	var out string
	select {
	case err := <-errDone:
		out = <-all
		if err != nil {
			t.Fatalf("auth refresh: %v\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("auth refresh did not finish")
	}
	if !strings.Contains(out, "Added registry:publish to the login of dev") {
		t.Fatalf("%s", out)
	}
	st, _, _ := runCLI(t, env, "", "auth", "status", "-o", "json")
	if !strings.Contains(st, `"registry:publish"`) || !strings.Contains(st, `"keys:write"`) {
		t.Fatalf("scopes after refresh: %s", st)
	}
	if _, se, code := runCLI(t, env, "", "key", "create", "publisher", "--scopes", "registry:publish"); code != 0 {
		t.Fatalf("key create after auth refresh: %d %s", code, se)
	}
	// the old session was revoked once the new one was stored
	res, err := http.PostForm(ts.URL+"/oauth/introspect", url.Values{"token": {refresh}, "client_id": {"codesync-cli"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var in struct {
		Active bool `json:"active"`
	}
	json.NewDecoder(res.Body).Decode(&in)
	if in.Active {
		t.Fatal("the old refresh token is still active")
	}
}

// TestScopeHintForEnvKey: with an API key in CODESYNC_AUTH_TOKEN the hint
// names a key with the scope (issue 14.17).
func TestScopeHintForEnvKey(t *testing.T) {
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + ts.Token}
	tok, se, code := runCLI(t, env, "", "key", "create", "reader", "--scopes", "registry:read")
	if code != 0 {
		t.Fatal(se)
	}
	env = []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + strings.TrimSpace(tok)}
	_, se, code = runCLI(t, env, "", "key", "list")
	if code != 5 || !strings.Contains(se, "lacks keys:read") || !strings.Contains(se, "'codesync-cli key create NAME --scopes registry:read,keys:read'") {
		t.Fatalf("exit %d: %s", code, se)
	}
}
