package gendocs_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/cmd/root"
	"github.com/codesync/codesync-cli/internal/gendocs"
	"github.com/codesync/codesync-cli/pkg/factory"
	"github.com/codesync/codesync-cli/pkg/iostreams"
)

// TestGeneratedFilesAreFresh regenerates completions and docs into a scratch
// folder and compares them with the committed ones: a changed flag or help
// text without `make generate` fails here.
func TestGeneratedFilesAreFresh(t *testing.T) {
	tmp := t.TempDir()
	ios, _, _, _ := iostreams.Test()
	f := factory.New(context.Background(), "dev", ios, func(string) string { return "" })
	if err := gendocs.Generate(root.NewCmdRoot(f), tmp); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join("..", "..")
	for _, dir := range []string{"completions", "docs/man", "docs/reference"} {
		compareTrees(t, filepath.Join(tmp, dir), filepath.Join(repo, dir))
	}
}

func compareTrees(t *testing.T, fresh, committed string) {
	t.Helper()
	seen := map[string]bool{}
	filepath.WalkDir(fresh, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fresh, p)
		seen[rel] = true
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(committed, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing: run 'make generate' and commit", filepath.Join(committed, rel))
		}
		return nil
	})
	filepath.WalkDir(committed, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(committed, p)
		if !seen[rel] {
			t.Errorf("%s is no longer generated: run 'make generate'", filepath.Join(committed, rel))
		}
		return nil
	})
}

// TestManPagesHaveExitStatusAndEnvironment: every committed man page carries
// both sections, before SEE ALSO, and the topics have reference pages.
func TestManPagesHaveExitStatusAndEnvironment(t *testing.T) {
	pages, _ := filepath.Glob(filepath.Join("..", "..", "docs", "man", "*.1"))
	if len(pages) < 10 {
		t.Fatalf("only %d man pages", len(pages))
	}
	for _, p := range pages {
		b, _ := os.ReadFile(p)
		s := string(b)
		exit, env, see := strings.Index(s, "\n.SH EXIT STATUS\n"), strings.Index(s, "\n.SH ENVIRONMENT\n"), strings.Index(s, "\n.SH SEE ALSO\n")
		if exit < 0 || env < 0 || !(exit < env && (see < 0 || env < see)) {
			t.Errorf("%s: EXIT STATUS at %d, ENVIRONMENT at %d, SEE ALSO at %d", p, exit, env, see)
		}
		if !strings.Contains(s, "\\fBCODESYNC_AUTH_TOKEN\\fP") || !strings.Contains(s, "\\fB4\\fP\nNot authenticated") {
			t.Errorf("%s: the sections lack their rows", p)
		}
	}
	for _, name := range []string{"codesync-cli_environment.md", "codesync-cli_exit-codes.md"} {
		if _, err := os.Stat(filepath.Join("..", "..", "docs", "reference", name)); err != nil {
			t.Error(err)
		}
	}
}
