package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
)

// shellSession is an interactive bash, zsh or fish in tmux with the
// generated completion loaded and this test binary as codesync-cli: TAB is
// pressed as a person presses it, and the screen is read back.
type shellSession struct {
	t      *testing.T
	shell  string
	socket string
}

func startShell(t *testing.T, shell string, env map[string]string) *shellSession {
	t.Helper()
	for _, tool := range []string{"tmux", shell} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing in CI: .ci/run must install it", tool)
			}
			t.Skipf("no %s", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	wrapper := "#!/bin/sh\nCODESYNC_RUN_MAIN=1 exec " + os.Args[0] + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "codesync-cli"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	// a file in the working folder, to see whether file names are offered
	os.WriteFile(filepath.Join(dir, "zzfile.txt"), nil, 0o644)
	comp, _ := filepath.Abs("completions")
	var exports strings.Builder
	env["PATH"] = bin + ":" + os.Getenv("PATH")
	env["HOME"] = dir
	env["CODESYNC_CONFIG_DIR"] = filepath.Join(dir, "config")
	for k, v := range env {
		if shell == "fish" {
			fmt.Fprintf(&exports, "set -gx %s %q\n", k, v)
		} else {
			fmt.Fprintf(&exports, "export %s=%q\n", k, v)
		}
	}
	var cmd string
	switch shell {
	case "bash":
		const bc = "/usr/share/bash-completion/bash_completion"
		if _, err := os.Stat(bc); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("bash-completion missing in CI: .ci/run must install it")
			}
			t.Skip("no bash-completion package")
		}
		rc := exports.String() + "PS1='READY> '\nsource " + bc + "\nsource " + comp + "/codesync-cli.bash\ncd " + dir + "\n"
		os.WriteFile(filepath.Join(dir, "rc"), []byte(rc), 0o644)
		cmd = "bash --noprofile --rcfile " + filepath.Join(dir, "rc") + " -i"
	case "zsh":
		rc := exports.String() + "PS1='READY> '\nautoload -U compinit && compinit -u -D\nsource " + comp + "/codesync-cli.zsh\ncd " + dir + "\n"
		os.WriteFile(filepath.Join(dir, ".zshrc"), []byte(rc), 0o644)
		cmd = "env ZDOTDIR=" + dir + " zsh -i"
	case "fish":
		rc := exports.String() + "function fish_prompt; echo 'READY> '; end\nsource " + comp + "/codesync-cli.fish\ncd " + dir + "\n"
		os.WriteFile(filepath.Join(dir, "rc.fish"), []byte(rc), 0o644)
		cmd = "fish --no-config -C 'source " + filepath.Join(dir, "rc.fish") + "'"
	}
	s := &shellSession{t: t, shell: shell, socket: fmt.Sprintf("codesync-%s-%d-%d", shell, os.Getpid(), time.Now().UnixNano())}
	if out, err := exec.Command("tmux", "-L", s.socket, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50", cmd).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	s.waitFor("READY>")
	return s
}

func (s *shellSession) screen() string {
	out, _ := exec.Command("tmux", "-L", s.socket, "capture-pane", "-p").Output()
	return string(out)
}

func (s *shellSession) waitFor(want string) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		sc := s.screen()
		if strings.Contains(sc, want) {
			return sc
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never showed %q:\n%s", want, sc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keys types text (literally), then the named keys (Tab, C-u, …).
func (s *shellSession) keys(text string, named ...string) {
	s.t.Helper()
	if text != "" {
		if err := exec.Command("tmux", "-L", s.socket, "send-keys", "-l", text).Run(); err != nil {
			s.t.Fatal(err)
		}
	}
	for _, k := range named {
		time.Sleep(100 * time.Millisecond)
		if err := exec.Command("tmux", "-L", s.socket, "send-keys", k).Run(); err != nil {
			s.t.Fatal(err)
		}
	}
}

// settle waits until the screen has not changed for a second (the
// completion, run by the shell, has answered).
func (s *shellSession) settle() string {
	prev, stable := "", 0
	for range 100 {
		time.Sleep(150 * time.Millisecond)
		sc := s.screen()
		if sc == prev {
			if stable++; stable >= 7 {
				return sc
			}
			continue
		}
		prev, stable = sc, 0
	}
	return prev
}

// lastLine is the screen's last non-empty line.
func (s *shellSession) lastLine() string {
	lines := strings.Split(strings.TrimRight(s.screen(), "\n "), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// clear cancels the line (and any completion pager) and waits for an empty
// prompt on an empty screen, for the next case.
func (s *shellSession) clear() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.lastLine() != "READY>" {
		if time.Now().After(deadline) {
			s.t.Fatalf("the line does not clear:\n%s", s.screen())
		}
		if s.shell == "fish" {
			s.keys("", "Escape") // closes fish's pager
			time.Sleep(600 * time.Millisecond)
		}
		s.keys("", "C-c")
		for range 10 {
			if s.lastLine() == "READY>" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	s.keys("clear", "Enter")
	for {
		if strings.TrimSpace(s.screen()) == "READY>" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no empty prompt after clear:\n%s", s.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCompletionInRealShells types in real bash, zsh and fish and presses
// TAB (issue 14.6): comma-separated scopes complete in place; --grace,
// --expires, --since and --key offer no file names; `key revoke ID1 <TAB>`
// does not offer ID1 again.
func TestCompletionInRealShells(t *testing.T) {
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + ts.Token}
	first := createKeyID(t, env, "first-key")
	second := createKeyID(t, env, "second-key")
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel() // mostly waiting for the screen
			s := startShell(t, shell, map[string]string{"CODESYNC_SERVER": ts.URL, "CODESYNC_AUTH_TOKEN": ts.Token})

			s.keys("codesync-cli key create x --scopes registry:read,registry:p", "Tab")
			sc := s.waitFor("--scopes registry:read,registry:publish")
			if strings.Contains(sc, "registry:registry") || strings.Contains(sc, `\,`) {
				t.Fatalf("scopes completed wrongly:\n%s", sc)
			}
			s.clear()

			s.keys("codesync-cli key create x --scopes audit:read,keys:w", "Tab")
			s.waitFor("--scopes audit:read,keys:write")
			s.clear()

			for _, line := range []string{
				"codesync-cli key rotate key_x --grace ",
				"codesync-cli key rotate key_x --expires ",
				"codesync-cli key create x --expires ",
				"codesync-cli audit events --since ",
				"codesync-cli key audit-export --since ",
				"codesync-cli audit events --key ",
				"codesync-cli key list --name ",
				"codesync-cli key list -o ",
			} {
				s.keys(line, "Tab", "Tab")
				if sc := s.settle(); strings.Contains(sc, "zzfile") {
					t.Errorf("%q<TAB> offers file names:\n%s", line, sc)
				}
				s.clear()
			}

			// -o lists exactly what the command prints
			s.keys("codesync-cli key list -o ", "Tab", "Tab")
			s.waitFor("table")
			sc = s.settle()
			if !strings.Contains(sc, "table") || !strings.Contains(sc, "json") || strings.Contains(sc, "csv") || strings.Contains(sc, "ndjson") {
				t.Errorf("key list -o <TAB>:\n%s", sc)
			}
			s.clear()

			// key revoke ID1 <TAB>: the other keys, not ID1 again
			s.keys("codesync-cli key revoke "+first+" key_", "Tab", "Tab")
			s.waitFor(second)
			sc = s.settle()
			var offered []string // the candidates: what is not the command line
			for _, l := range strings.Split(sc, "\n") {
				if !strings.Contains(l, "READY>") {
					offered = append(offered, l)
				}
			}
			if strings.Contains(strings.Join(offered, "\n"), first) {
				t.Errorf("%s offered again:\n%s", first, sc)
			}
			if !strings.Contains(sc, second) {
				t.Errorf("%s not offered:\n%s", second, sc)
			}
			s.clear()
		})
	}
}
