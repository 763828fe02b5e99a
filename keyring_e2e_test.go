package main

import (
	"os"
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/pkg/server"
)

// TestKeyringSessionAcrossProcesses runs against a real Secret Service
// (gnome-keyring in a private D-Bus session: make keyring-test): a login
// stored by one process is read by another, and logout removes it.
func TestKeyringSessionAcrossProcesses(t *testing.T) {
	if os.Getenv("CODESYNC_TEST_KEYRING") == "" {
		t.Skip("no real Secret Service: run under scripts/with-keyring.sh (make keyring-test)")
	}
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir()}
	if _, se, ex := runCLI(t, env, ts.Token+"\n", "login", "--with-token"); ex != 0 || !strings.Contains(se, "stored in the OS keyring") {
		t.Fatalf("login: %d %s", ex, se)
	}
	out, se, ex := runCLI(t, env, "", "auth", "status", "-o", "json")
	if ex != 0 || !strings.Contains(out, `"source":"keyring"`) || !strings.Contains(out, `"user":"dev"`) {
		t.Fatalf("second process: %d %s %s", ex, out, se)
	}
	if out, _, _ := runCLI(t, env, "", "auth", "token"); strings.TrimSpace(out) != ts.Token {
		t.Fatal("auth token does not return the stored token")
	}
	if _, se, ex := runCLI(t, env, "", "logout"); ex != 0 {
		t.Fatalf("logout: %s", se)
	}
	if _, se, ex := runCLI(t, env, "", "auth", "status"); ex != 4 || !strings.Contains(se, "not logged in") {
		t.Fatalf("after logout: %d %s", ex, se)
	}
}

// TestKeyringUnavailableHint: without any Secret Service the CLI says how to
// get on, quickly, and CODESYNC_AUTH_TOKEN works without the keyring.
func TestKeyringUnavailableHint(t *testing.T) {
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"}
	_, se, ex := runCLI(t, env, ts.Token+"\n", "login", "--with-token")
	if ex == 0 || !strings.Contains(se, "--insecure-storage") || !strings.Contains(se, "CODESYNC_KEYRING=file") {
		t.Fatalf("want the fallback hint: %d %s", ex, se)
	}
	if _, se, ex := runCLI(t, append(env, "CODESYNC_AUTH_TOKEN="+ts.Token), "", "key", "list"); ex != 0 {
		t.Fatalf("CODESYNC_AUTH_TOKEN without a keyring: %d %s", ex, se)
	}
	if _, se, ex := runCLI(t, env, ts.Token+"\n", "login", "--with-token", "--insecure-storage"); ex != 0 {
		t.Fatalf("--insecure-storage: %d %s", ex, se)
	}
}
