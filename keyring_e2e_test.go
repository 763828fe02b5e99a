package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
)

// TestKeyringSessionAcrossProcesses runs against a real Secret Service
// (gnome-keyring in a private D-Bus session: make keyring-test): a login
// stored by one process is read by another, and logout removes it.
func TestKeyringSessionAcrossProcesses(t *testing.T) {
	if os.Getenv("CODESYNC_TEST_KEYRING") != "1" {
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

// TestEnvTokenNeverTouchesTheKeyring: with CODESYNC_AUTH_TOKEN set, not one
// connection is made to the session bus (a listener stands in for it); without
// it, the same commands do connect, so the test can tell.
func TestEnvTokenNeverTouchesTheKeyring(t *testing.T) {
	ts := startServer(t, server.Config{})
	sock := filepath.Join(t.TempDir(), "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skip("no unix sockets here")
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	base := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "DBUS_SESSION_BUS_ADDRESS=unix:path=" + sock, "CODESYNC_KEYRING_TIMEOUT=1s"}
	withEnv := append(base, "CODESYNC_AUTH_TOKEN="+ts.Token)
	for _, args := range [][]string{{"key", "list"}, {"auth", "status"}, {"auth", "token"}, {"audit", "events"}} {
		if _, se, ex := runCLI(t, withEnv, "", args...); ex != 0 {
			t.Fatalf("%v: %d %s", args, ex, se)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections to the session bus with CODESYNC_AUTH_TOKEN set", n)
	}
	start := time.Now()
	_, se, ex := runCLI(t, base, "", "key", "list")
	if conns.Load() == 0 || ex != 4 || !strings.Contains(se, "--insecure-storage") {
		t.Fatalf("control: conns=%d exit=%d %s", conns.Load(), ex, se)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("a keyring that does not answer held the CLI for %s", time.Since(start))
	}
}

// TestKeyringLocked runs with a Secret Service whose collection is locked and
// whose unlock prompt can never be shown (scripts/with-keyring.sh --locked):
// the CLI ends within the keyring timeout with the fallback hint.
func TestKeyringLocked(t *testing.T) {
	if os.Getenv("CODESYNC_TEST_KEYRING") != "locked" {
		t.Skip("needs a locked Secret Service: scripts/with-keyring.sh --locked (make keyring-test)")
	}
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING_TIMEOUT=2s"}
	start := time.Now()
	_, se, ex := runCLI(t, env, ts.Token+"\n", "login", "--with-token")
	el := time.Since(start)
	if ex == 0 || !strings.Contains(se, "--insecure-storage") || !strings.Contains(se, "CODESYNC_KEYRING=file") {
		t.Fatalf("want the fallback hint: %d %s", ex, se)
	}
	if el > 5*time.Second {
		t.Fatalf("took %s with a 2 s keyring timeout", el)
	}
	start = time.Now()
	if _, se, ex := runCLI(t, env, "", "key", "list"); ex != 4 || !strings.Contains(se, "--insecure-storage") || time.Since(start) > 5*time.Second {
		t.Fatalf("reading: %d after %s: %s", ex, time.Since(start), se)
	}
}
