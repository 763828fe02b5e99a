package root

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
)

func topic(t *testing.T, name string) HelpTopic {
	t.Helper()
	for _, tp := range HelpTopics() {
		if tp.Name == name {
			return tp
		}
	}
	t.Fatalf("no help topic %q", name)
	return HelpTopic{}
}

// TestEnvironmentTopicNamesEveryVariable reads every CODESYNC_* string in
// the repository's non-test Go source: each one must be documented in `help
// environment`, so a new variable cannot ship undocumented.
func TestEnvironmentTopicNamesEveryVariable(t *testing.T) {
	var documented []string
	env := topic(t, "environment")
	for _, r := range env.Rows {
		documented = append(documented, strings.Split(r.Term, ", ")...)
	}
	text := env.Text(80)
	varRE := regexp.MustCompile(`^CODESYNC_[A-Z0-9_]+$`)
	found := map[string]string{}
	repo := filepath.Join("..", "..")
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "bench") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && varRE.MatchString(s) {
					found[s] = p
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 5 {
		t.Fatalf("found only %v: the source walk is broken", found)
	}
	for v, file := range found {
		// test harness switches, not for users
		if strings.HasPrefix(v, "CODESYNC_TEST_") {
			continue
		}
		// the variables `server --dev` prints are named in the topic's text
		if !slices.Contains(documented, v) && !strings.Contains(text, v) {
			t.Errorf("%s (read in %s) is missing from `codesync-cli help environment` (cmd/root/topics.go)", v, file)
		}
	}
}

// TestExitCodesTopicMatchesTheCodes: one row per exit code, 0 to the
// highest, in order.
func TestExitCodesTopicMatchesTheCodes(t *testing.T) {
	rows := topic(t, "exit-codes").Rows
	codes := []int{cmdutil.ExitOK, cmdutil.ExitFailure, cmdutil.ExitUsage, cmdutil.ExitCancelled, cmdutil.ExitAuth,
		cmdutil.ExitForbidden, cmdutil.ExitNotFound, cmdutil.ExitRateLimited, cmdutil.ExitConflict, cmdutil.ExitUnavailable}
	if len(rows) != len(codes) {
		t.Fatalf("%d rows for %d exit codes", len(rows), len(codes))
	}
	for i, c := range codes {
		if rows[i].Term != strconv.Itoa(c) {
			t.Errorf("row %d is %q, want %d", i, rows[i].Term, c)
		}
	}
}

func TestTopicTextFitsEightyColumns(t *testing.T) {
	for _, tp := range HelpTopics() {
		for _, l := range strings.Split(tp.Text(80), "\n") {
			if n := len([]rune(l)); n > 80 && !strings.HasPrefix(l, "  ") {
				t.Errorf("%s: a line of %d columns: %q", tp.Name, n, l)
			}
		}
	}
}
