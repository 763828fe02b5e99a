package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
)

// TestAuditFollow: `audit events --follow` prints new events as they happen
// and stops on Ctrl-C (SIGINT) with exit 0 (issue 14.12).
func TestAuditFollow(t *testing.T) {
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + ts.Token}
	cmd := cli(t, env, "audit", "events", "--follow", "--type", "token:created", "-o", "ndjson", "--jq", ".detail")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within 20s", want)
			}
		}
	}
	wait("dev bootstrap key")
	if _, stderr, code := runCLI(t, env, "", "key", "create", "followed-key"); code != 0 {
		t.Fatalf("key create: %d %s", code, stderr)
	}
	wait(`name="followed-key"`)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("--follow did not stop on SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after Ctrl-C, want 0", code)
	}
}
