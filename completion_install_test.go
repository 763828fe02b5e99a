package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// installSteps reads `codesync-cli completion --help` and returns, per shell,
// the commands it tells a person to run (mkdir, codesync-cli completion …)
// and the lines it tells them to put into a startup file.
func installSteps(t *testing.T) map[string][]string {
	t.Helper()
	out, stderr, code := runCLI(t, nil, "", "completion", "--help")
	if code != 0 {
		t.Fatalf("completion --help: %d %s", code, stderr)
	}
	steps := map[string][]string{}
	shell := ""
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, " ") {
			// a shell's heading: "bash (needs …):", "zsh:", "PowerShell:"
			shell = ""
			if f := strings.Fields(l); len(f) > 0 && strings.HasSuffix(l, ":") {
				if sh := strings.ToLower(strings.TrimSuffix(f[0], ":")); slices.Contains([]string{"bash", "zsh", "fish", "powershell"}, sh) {
					shell = sh
				}
			}
			continue
		}
		l = strings.TrimSpace(l)
		if shell == "" || strings.HasPrefix(l, "#") {
			continue
		}
		for _, p := range []string{"mkdir ", "codesync-cli completion ", "fpath="} {
			if strings.HasPrefix(l, p) {
				steps[shell] = append(steps[shell], l)
			}
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		if len(steps[sh]) == 0 {
			t.Fatalf("completion --help gives no install step for %s:\n%s", sh, out)
		}
	}
	return steps
}

// installEnv is a fresh HOME with codesync-cli (this test binary) on PATH.
func installEnv(t *testing.T) (home string, env []string) {
	t.Helper()
	bin, home := t.TempDir(), t.TempDir()
	wrapper := "#!/bin/sh\nCODESYNC_RUN_MAIN=1 exec " + os.Args[0] + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "codesync-cli"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return home, []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + home, "ZDOTDIR=" + home,
		"CODESYNC_CONFIG_DIR=" + filepath.Join(home, "cfg"), "TERM=dumb"}
}

// install runs the documented commands (not the startup-file lines) in sh,
// as a person pastes them.
func install(t *testing.T, env []string, steps []string) {
	t.Helper()
	for _, s := range steps {
		if strings.HasPrefix(s, "fpath=") {
			continue
		}
		cmd := exec.Command("sh", "-c", s)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", s, err, out)
		}
	}
}

func needShell(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing in CI: .ci/run must install it", name)
		}
		t.Skipf("no %s", name)
	}
	return p
}

// TestCompletionInstallStepsWork follows `completion --help` in real shells
// with a fresh HOME: after the documented steps, a new shell completes
// `codesync-cli ke<TAB>` to `key` without anything else loaded by hand.
func TestCompletionInstallStepsWork(t *testing.T) {
	steps := installSteps(t)

	t.Run("bash", func(t *testing.T) {
		bash := needShell(t, "bash")
		const bc = "/usr/share/bash-completion/bash_completion"
		if _, err := os.Stat(bc); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("bash-completion missing in CI: .ci/run must install it")
			}
			t.Skip("no bash-completion package")
		}
		_, env := installEnv(t)
		install(t, env, steps["bash"])
		// a new shell: bash-completion loads the script on first use, from
		// ~/.local/share/bash-completion/completions
		script := `source ` + bc + `
_completion_loader codesync-cli
COMP_WORDS=(codesync-cli ke); COMP_CWORD=1; COMP_LINE="codesync-cli ke"; COMP_POINT=${#COMP_LINE}
__start_codesync-cli
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "key" {
			t.Fatalf("bash after the documented install: %v %q", err, out)
		}
	})

	t.Run("zsh", func(t *testing.T) {
		zsh := needShell(t, "zsh")
		home, env := installEnv(t)
		install(t, env, steps["zsh"])
		var rc []string
		for _, s := range steps["zsh"] {
			if strings.HasPrefix(s, "fpath=") {
				rc = append(rc, s)
			}
		}
		if len(rc) == 0 {
			t.Fatal("completion --help says nothing to put into ~/.zshrc")
		}
		if err := os.WriteFile(filepath.Join(home, ".zshrc"), []byte(strings.Join(rc, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// an interactive zsh reads ~/.zshrc; compinit finds _codesync-cli on fpath
		cmd := exec.Command(zsh, "-i", "-c", `print -r -- "comp=${_comps[codesync-cli]}"; whence -w _codesync-cli`)
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "comp=_codesync-cli") {
			t.Fatalf("zsh after the documented install:\n%s", out)
		}
	})

	t.Run("fish", func(t *testing.T) {
		fish := needShell(t, "fish")
		home, env := installEnv(t)
		install(t, env, steps["fish"])
		cmd := exec.Command(fish, "-c", "complete -C 'codesync-cli ke'")
		cmd.Env, cmd.Dir = env, home // no file named ke… to fall back on
		out, err := cmd.CombinedOutput()
		if first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\t"); err != nil || first != "key" {
			t.Fatalf("fish after the documented install: %v %q", err, out)
		}
	})

	t.Run("readme", func(t *testing.T) {
		// the README's table gives the same steps
		readme, err := os.ReadFile("README.md")
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(readme), `\|`, "|")
		for sh, list := range steps {
			for _, s := range list {
				if !strings.Contains(text, s) {
					t.Errorf("README.md lacks the %s step %q of completion --help", sh, s)
				}
			}
		}
	})

	t.Run("powershell", func(t *testing.T) {
		// no PowerShell on these machines: check the step prints a script
		if len(steps["powershell"]) != 1 || !strings.Contains(steps["powershell"][0], "Invoke-Expression") {
			t.Fatalf("powershell steps: %q", steps["powershell"])
		}
		out, _, code := runCLI(t, nil, "", "completion", "powershell")
		if code != 0 || !strings.Contains(out, "Register-ArgumentCompleter") {
			t.Fatalf("completion powershell: %d %.200s", code, out)
		}
	})
}
