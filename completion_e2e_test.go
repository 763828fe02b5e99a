package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/pkg/server"
)

// bashComplete loads the generated completion into a real bash and asks it
// to complete line, as TAB would; codesync-cli on PATH is this test binary.
func bashComplete(t *testing.T, env []string, words ...string) []string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nCODESYNC_RUN_MAIN=1 exec " + os.Args[0] + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "codesync-cli"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("completions/codesync-cli.bash")
	// the bash-completion package provides _get_comp_words_by_ref, as on
	// every distribution where people use completion
	const bc = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bc); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("bash-completion missing in CI: .ci/run must install it")
		}
		t.Skip("no bash-completion package")
	}
	script := `source ` + bc + `; source "$1"; shift
COLUMNS=120; COMP_TYPE=${COMP_TYPE:-9}; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
__start_codesync-cli
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, append([]string{"--norc", "--noprofile", "-c", script, "bash", abs}, words...)...)
	cmd.Env = append([]string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "CODESYNC_CONFIG_DIR=" + t.TempDir()}, env...)
	// stderr holds bash's "compopt: not currently executing completion
	// function": compopt works only under a real TAB, the candidates do not
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestBashCompletion(t *testing.T) {
	// subcommands
	got := bashComplete(t, nil, "codesync-cli", "key", "rot")
	if len(got) != 1 || strings.TrimSpace(got[0]) != "rotate" {
		t.Fatalf("key rot<TAB>: %q", got)
	}
	// key IDs from a running server, with the name as description
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + ts.Token}
	runCLI(t, env, "", "key", "create", "completion-target")
	// COMP_TYPE 63 is the double TAB that lists candidates with descriptions
	got = bashComplete(t, append(env, "COMP_TYPE=63"), "codesync-cli", "key", "revoke", "")
	if len(got) < 2 || !strings.Contains(strings.Join(got, "\n"), "key_") || !strings.Contains(strings.Join(got, "\n"), "completion-target") {
		t.Fatalf("key revoke <TAB>: %q", got)
	}
	// not logged in: nothing, no error, no hang
	got = bashComplete(t, []string{"CODESYNC_SERVER=" + ts.URL}, "codesync-cli", "key", "show", "")
	if len(got) != 0 {
		t.Fatalf("not logged in: %q", got)
	}
	// scopes and formats
	got = bashComplete(t, nil, "codesync-cli", "key", "create", "x", "--scopes", "audit")
	if len(got) != 1 || got[0] != "audit:read" {
		t.Fatalf("--scopes audit<TAB>: %q", got)
	}
	got = bashComplete(t, nil, "codesync-cli", "key", "list", "-o", "js")
	if len(got) != 1 || got[0] != "json" {
		t.Fatalf("-o js<TAB>: %q", got)
	}
}
