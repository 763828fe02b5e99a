package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/codesync/codesync-cli/pkg/server"
)

// ansiRE matches CSI sequences (colours) and OSC ones (the colour query
// lipgloss sends to learn the background).
var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)`)

// TestPTYTableFitsTerminal: on an 80-column terminal `key list` (about 150
// columns wide) is cut to fit with "…", IDs kept whole; piped, nothing is cut
// (issue 14.11).
func TestPTYTableFitsTerminal(t *testing.T) {
	ts := startServer(t, server.Config{})
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + ts.Token}
	long := "publish-pipeline-for-the-monorepo-release-train"
	id := createKeyID(t, env, long)
	if _, se, code := runCLI(t, env, "", "key", "create", "all-scopes", "--scopes", "registry:read,registry:publish,keys:read,keys:write,audit:read"); code != 0 {
		t.Fatal(se)
	}
	for _, extra := range [][]string{nil, {"NO_COLOR=1"}} {
		s := startPTY(t, 80, append(env, extra...), "key", "list")
		if code := s.exit(10 * time.Second); code != 0 {
			t.Fatalf("exit %d: %s", code, s.output())
		}
		screen := ansiRE.ReplaceAllString(s.output(), "")
		lines := strings.Split(strings.TrimRight(screen, "\r\n"), "\r\n")
		if len(lines) < 4 {
			t.Fatalf("%v: too few lines: %q", extra, screen)
		}
		for _, l := range lines {
			if w := utf8.RuneCountInString(strings.TrimRight(l, " ")); w > 80 {
				t.Errorf("%v: a line of %d columns on an 80-column terminal: %q", extra, w, l)
			}
		}
		if !strings.Contains(screen, "…") || !strings.Contains(screen, id) || strings.Contains(screen, long) {
			t.Errorf("%v: want cells cut with … and the ID whole:\n%s", extra, screen)
		}
	}
	// piped: whole cells, however wide
	out, _, code := runCLI(t, env, "", "key", "list")
	if code != 0 || !strings.Contains(out, long) || strings.Contains(out, "…") {
		t.Fatalf("piped output was cut: %q", out)
	}
	// a wide terminal: nothing to cut
	s := startPTY(t, 250, env, "key", "list")
	s.exit(10 * time.Second)
	if screen := s.output(); !strings.Contains(screen, long) || strings.Contains(screen, "…") {
		t.Fatalf("250 columns: %q", screen)
	}
}
