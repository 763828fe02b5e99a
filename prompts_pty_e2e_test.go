package main

import (
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
)

// createKeyID creates a key named name and returns its ID.
func createKeyID(t *testing.T, env []string, name string) string {
	t.Helper()
	out, stderr, code := runCLI(t, env, "", "key", "create", name, "--jq", ".id")
	if code != 0 {
		t.Fatalf("key create: %d %s", code, stderr)
	}
	return strings.TrimSpace(out)
}

// TestPTYRevokeCtrlC: Ctrl-C at the revoke confirmation ends the command at
// once with exit 3, without waiting for Enter (issue 14.1); the prompt names
// the keys (14.18) and "cancelled" is said once.
func TestPTYRevokeCtrlC(t *testing.T) {
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + ts.Token}
	id := createKeyID(t, env, "victim")
	s := startPTY(t, 120, env, "key", "revoke", id)
	s.waitFor("[y/N]")
	if !strings.Contains(s.output(), id+" (victim)") {
		t.Fatalf("the prompt does not name the key: %q", s.output())
	}
	s.send("\x03")
	if code := s.exit(3 * time.Second); code != 3 {
		t.Fatalf("exit %d, want 3; terminal:\n%s", code, s.output())
	}
	if strings.Contains(s.output(), "(cancelled)") {
		t.Fatalf("cancelled said twice: %q", s.output())
	}
	// the key is still there
	out, _, _ := runCLI(t, env, "", "key", "show", id, "--jq", ".status")
	if strings.TrimSpace(out) != "active" {
		t.Fatalf("key status after ^C: %q", out)
	}
	// Ctrl-D answers the same way
	s = startPTY(t, 120, env, "key", "revoke", id)
	s.waitFor("[y/N]")
	s.send("\x04")
	if code := s.exit(3 * time.Second); code != 3 {
		t.Fatalf("^D: exit %d, want 3", code)
	}
	// and "y" still revokes
	s = startPTY(t, 120, env, "key", "revoke", id)
	s.waitFor("[y/N]")
	s.send("y\r")
	if code := s.exit(10 * time.Second); code != 0 {
		t.Fatalf("y: exit %d; terminal:\n%s", code, s.output())
	}
}

// TestPTYLoginWithToken: on a terminal `login --with-token` asks with a
// masked "Paste your token:" prompt; Ctrl-C and Ctrl-D end it at once with
// exit 3 (issue 14.1). Logged in already, it asks before replacing the
// session (14.18).
func TestPTYLoginWithToken(t *testing.T) {
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_KEYRING=file", "CODESYNC_CONFIG_DIR=" + t.TempDir()}

	for _, keys := range []string{"csy_dev_abc\x03", "\x04"} {
		s := startPTY(t, 120, env, "login", "--with-token")
		s.waitFor("Paste your token: ")
		s.send(keys) // Ctrl-C midway, or Ctrl-D on an empty line
		if code := s.exit(3 * time.Second); code != 3 {
			t.Fatalf("%q: exit %d, want 3; terminal:\n%s", keys, code, s.output())
		}
	}

	s := startPTY(t, 120, env, "login", "--with-token")
	s.waitFor("Paste your token: ")
	s.send(ts.Token + "\r")
	if code := s.exit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d; terminal:\n%s", code, s.output())
	}
	out := s.output()
	if strings.Contains(out, ts.Token) || strings.Contains(out, ts.Token[:16]) {
		t.Fatalf("the token was echoed: %q", out)
	}
	if !strings.Contains(out, strings.Repeat("*", len(ts.Token))) || !strings.Contains(out, "Logged in") {
		t.Fatalf("no masked echo or no success: %q", out)
	}

	// logged in now: a second login asks first; "n" cancels (exit 3)
	s = startPTY(t, 120, env, "login", "--with-token")
	s.waitFor("Log in again?")
	if !strings.Contains(s.output(), "already logged in") {
		t.Fatalf("%q", s.output())
	}
	s.send("n\r")
	if code := s.exit(3 * time.Second); code != 3 {
		t.Fatalf("declined re-login: exit %d, want 3", code)
	}
	if _, _, code := runCLI(t, env, "", "auth", "status"); code != 0 {
		t.Fatalf("the session is gone after a declined re-login: %d", code)
	}
}
