package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoScript runs scripts/demo.sh (what `make demo` runs) with this test
// binary as codesync-cli and reads its output as a person would: every step
// has its heading, and the token line is clean (issue 14.7). The dev server it
// starts mints csy_dev_ keys (14.13).
func TestDemoScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	bin := filepath.Join(t.TempDir(), "codesync-cli")
	wrapper := "#!/bin/sh\nCODESYNC_RUN_MAIN=1 exec " + os.Args[0] + " \"$@\"\n"
	if err := os.WriteFile(bin, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "scripts/demo.sh", bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("demo.sh did not finish in 2 minutes")
	}
	text := string(out)
	if err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, text)
	}
	for _, want := range []string{
		"$ codesync-cli key create ci-publish",
		"$ codesync-cli key create short-lived",
		"$ codesync-cli key rotate key_",
		"$ codesync-cli key revoke --yes key_",
		"$ codesync-cli key audit-export -o csv",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no heading %q in:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`(?m)^\(token written to a file; shown once: csy_dev_[0-9A-Za-z]{4}…\)$`).MatchString(text) {
		t.Errorf("the token line is not clean:\n%s", text)
	}
	if regexp.MustCompile(`csy_(dev|prod)_[0-9A-Za-z]{36}`).MatchString(text) {
		t.Errorf("a whole token was shown:\n%s", text)
	}
}
