package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
)

// TestAuthStatusShowsSessionLength: for a stored OAuth session, auth status
// shows when the session ends (its refresh token, 30 days), not only the
// 2-hour access token (issue 14.18).
func TestAuthStatusShowsSessionLength(t *testing.T) {
	ts := startServer(t, server.Config{})
	access, refresh := issueSession(t, ts, "st1")
	dir := t.TempDir()
	writeFileSession(t, dir, ts.URL, access, refresh, time.Now().Add(2*time.Hour))
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + dir, "CODESYNC_KEYRING=file"}
	out, se, code := runCLI(t, env, "", "auth", "status", "-o", "json")
	if code != 0 {
		t.Fatalf("%d %s", code, se)
	}
	var st struct {
		ExpiresAt        time.Time  `json:"expires_at"`
		SessionExpiresAt *time.Time `json:"session_expires_at"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.SessionExpiresAt == nil {
		t.Fatalf("no session_expires_at: %s", out)
	}
	if d := time.Until(*st.SessionExpiresAt); d < 719*time.Hour || d > 721*time.Hour {
		t.Fatalf("session ends in %v, want about 30 days", d)
	}
	if d := time.Until(st.ExpiresAt); d > 3*time.Hour {
		t.Fatalf("expires_at (the access token) in %v", d)
	}
	out, _, _ = runCLI(t, env, "", "auth", "status")
	if !strings.Contains(out, "session") || !strings.Contains(out, "each refresh renews it") || !strings.Contains(out, "access token") {
		t.Fatalf("table: %s", out)
	}
}
