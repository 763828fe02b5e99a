//go:build crashpoints

// The crash points exist only in test builds: `make test` runs `go test
// -tags crashpoints`; see internal/crashpoint.

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/pkg/server"
)

var tokenLine = regexp.MustCompile(`^csy_(prod|dev)_[0-9A-Za-z]{36}$`)

// The CLI is killed with SIGKILL at the worst moment of each job; what it
// stored is the old version or the new one, never torn, and a rerun finishes.

func TestCrashDuringRotateRerunGetsTheSameNewKey(t *testing.T) {
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + ts.Token, "CODESYNC_CONFIG_DIR=" + t.TempDir()}
	out, _, _ := runCLI(t, env, "", "key", "create", "victim", "-o", "json")
	var k struct{ ID string }
	json.Unmarshal([]byte(out), &k)

	// killed after the server rotated, before the token was shown
	out, _, ex := runCLI(t, append(env, "CODESYNC_TEST_KILL_AT=rotate-before-print"), "", "key", "rotate", k.ID)
	if ex == 0 || strings.Contains(out, "csy_") {
		t.Fatalf("the kill point was not reached: %d %q", ex, out)
	}
	// the rerun gets the remembered answer: the same new key, with its token,
	// even when its flags differ from the interrupted run's
	out, se, ex := runCLI(t, env, "", "key", "rotate", k.ID, "--grace", "1h")
	tok := strings.TrimSpace(out)
	if ex != 0 || !tokenLine.MatchString(tok) {
		t.Fatalf("rerun: %d %q %s", ex, out, se)
	}
	if _, se, ex := runCLI(t, []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + tok, "CODESYNC_CONFIG_DIR=" + t.TempDir()}, "", "auth", "status"); ex != 0 {
		t.Fatalf("the recovered token does not work: %s", se)
	}
	out, _, _ = runCLI(t, env, "", "key", "list", "--all", "-o", "json")
	if n := strings.Count(out, `"name":"victim"`); n != 2 {
		t.Fatalf("want the old key and exactly one replacement, got %d keys named victim", n)
	}
	// once shown, the pending record is gone: a new rotation is a new one
	if _, _, ex := runCLI(t, env, "", "key", "rotate", k.ID); ex != 8 {
		t.Fatalf("rotating the rotated key again: exit %d, want 8", ex)
	}
}

func TestCrashDuringLoginKeepsTheOldSession(t *testing.T) {
	ts := startServer(t, server.Config{})
	dir := t.TempDir()
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + dir, "CODESYNC_KEYRING=file"}
	if _, se, ex := runCLI(t, env, ts.Token+"\n", "login", "--with-token"); ex != 0 {
		t.Fatal(se)
	}
	out, _, _ := runCLI(t, append(env, "CODESYNC_AUTH_TOKEN="+ts.Token), "", "key", "create", "second", "--scopes", "keys:read")
	second := strings.TrimSpace(out)

	_, _, ex := runCLI(t, append(env, "CODESYNC_TEST_KILL_AT=atomicfile-before-rename"), second+"\n", "login", "--with-token")
	if ex == 0 {
		t.Fatal("the kill point was not reached")
	}
	if out, se, ex := runCLI(t, env, "", "auth", "token"); ex != 0 || strings.TrimSpace(out) != ts.Token {
		t.Fatalf("after the crash the old session must be intact: %d %s", ex, se)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if !json.Valid(b) {
		t.Fatal("credentials.json is torn")
	}
	if _, se, ex := runCLI(t, env, second+"\n", "login", "--with-token"); ex != 0 {
		t.Fatal(se)
	}
	if out, _, _ := runCLI(t, env, "", "auth", "token"); strings.TrimSpace(out) != second {
		t.Fatal("the rerun did not store the new session")
	}
}

func TestCrashDuringExportKeepsTheOldFile(t *testing.T) {
	ts := startServer(t, server.Config{})
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.json")
	os.WriteFile(file, []byte("OLD EXPORT\n"), 0o600)
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + ts.Token, "CODESYNC_CONFIG_DIR=" + t.TempDir()}
	_, _, ex := runCLI(t, append(env, "CODESYNC_TEST_KILL_AT=export-midway"), "", "key", "audit-export", "--output-file", file)
	if ex == 0 {
		t.Fatal("the kill point was not reached")
	}
	if b, _ := os.ReadFile(file); string(b) != "OLD EXPORT\n" {
		t.Fatalf("the old export was damaged: %q", b)
	}
	if _, se, ex := runCLI(t, env, "", "key", "audit-export", "--output-file", file); ex != 0 {
		t.Fatal(se)
	}
	b, _ := os.ReadFile(file)
	if !json.Valid(b) || !strings.Contains(string(b), `"schema_version":1`) {
		t.Fatalf("the rerun did not finish the export: %q", b)
	}
}
