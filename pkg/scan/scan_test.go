package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/pkg/token"
)

// lookalikes are strings a careless scanner would report: right shape,
// wrong checksum; too long; wrong prefix; cut short.
func lookalikes(t *testing.T) []string {
	good := token.New("prod")
	last := good[len(good)-1]
	swapped := byte('0')
	if last == '0' {
		swapped = '1'
	}
	badSum := good[:len(good)-1] + string(swapped)
	if _, err := token.Parse(badSum); err == nil {
		t.Fatal("the look-alike has a valid checksum")
	}
	return []string{
		badSum,
		"csy_prod_" + strings.Repeat("A", 36),
		token.New("dev") + "x",             // a longer run: another string
		"csy_test_" + good[9:],             // unknown prefix
		good[:len(good)-1],                 // cut short
		strings.Replace(good, "_", "-", 1), // csy-prod_…
	}
}

func sha(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func scanPaths(t *testing.T, paths ...string) ([]Finding, []string) {
	t.Helper()
	var warnings []string
	s := New(Options{Warn: func(m string) { warnings = append(warnings, m) }})
	if err := s.ScanPaths(context.Background(), paths); err != nil {
		t.Fatal(err)
	}
	return s.Findings(), warnings
}

func TestNestedFilesFound(t *testing.T) {
	dir := t.TempDir()
	prod, dev := token.New("prod"), token.New("dev")
	write(t, filepath.Join(dir, "a/b/c/deep/.env"), "# settings\nUSER=ci\n  TOKEN=\""+prod+"\"\n")
	// columns count code points, not bytes
	write(t, filepath.Join(dir, "a/notes.md"), "first\nsecond\nÄÖÜ "+dev+" and "+prod+"\n")
	write(t, filepath.Join(dir, "clean/readme.txt"), strings.Join(lookalikes(t), "\n")+"\n")
	// .git internals are not walked
	write(t, filepath.Join(dir, ".git/config"), "token = "+prod+"\n")
	got, warns := scanPaths(t, dir)
	if len(warns) > 0 {
		t.Fatalf("warnings: %v", warns)
	}
	want := []Finding{
		{Path: filepath.Join(dir, "a/b/c/deep/.env"), Line: 3, Column: 10, EndColumn: 55, Prefix: prod[:12], Environment: "production", SHA256: sha(prod)},
		{Path: filepath.Join(dir, "a/notes.md"), Line: 3, Column: 5, EndColumn: 49, Prefix: dev[:12], Environment: "sandbox", SHA256: sha(dev)},
		{Path: filepath.Join(dir, "a/notes.md"), Line: 3, Column: 54, EndColumn: 99, Prefix: prod[:12], Environment: "production", SHA256: sha(prod)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("findings:\n got %v\nwant %v", got, want)
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), prod) || strings.Contains(string(b), dev) {
		t.Fatal("a finding holds a whole token")
	}
}

func TestLookalikesNotReported(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "x.txt"), strings.Join(lookalikes(t), " ")+"\n")
	if got, _ := scanPaths(t, dir); len(got) != 0 {
		t.Fatalf("look-alikes reported: %v", got)
	}
}

func TestTokenAcrossChunkBoundary(t *testing.T) {
	tok := token.New("prod")
	for _, shift := range []int{-60, -45, -44, -30, -1, 0, 1, 20} {
		dir := t.TempDir()
		lines := chunkSize/100 + 1
		var b strings.Builder
		for b.Len() < chunkSize+shift-100 {
			b.WriteString(strings.Repeat("x", 99) + "\n")
		}
		line := strings.Count(b.String(), "\n") + 1
		pad := chunkSize + shift - b.Len()
		if pad < 0 {
			pad = 0
		}
		b.WriteString(strings.Repeat("y", pad) + tok + "\nend\n")
		_ = lines
		write(t, filepath.Join(dir, "big.txt"), b.String())
		got, _ := scanPaths(t, dir)
		if len(got) != 1 || got[0].Line != line || got[0].Column != pad+1 {
			t.Fatalf("shift %d: got %v, want line %d column %d", shift, got, line, pad+1)
		}
	}
}

func TestArchives(t *testing.T) {
	dir := t.TempDir()
	tok := token.New("dev")
	// a .tar.gz with a nested zip
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("conf/app.properties")
	fmt.Fprintf(w, "key=%s\n", tok)
	zw.Close()
	var tbuf bytes.Buffer
	gz := gzip.NewWriter(&tbuf)
	tw := tar.NewWriter(gz)
	addTar(t, tw, "src/settings.py", "X = 1\nAPI = '"+tok+"'\n")
	addTar(t, tw, "lib/bundle.zip", zbuf.String())
	tw.Close()
	gz.Close()
	write(t, filepath.Join(dir, "release.tgz"), tbuf.String())
	write(t, filepath.Join(dir, "top.zip"), zbuf.String())
	got, _ := scanPaths(t, dir)
	var paths []string
	for _, f := range got {
		paths = append(paths, strings.TrimPrefix(f.Path, dir+"/")+fmt.Sprintf(":%d", f.Line))
	}
	want := "[release.tgz!lib/bundle.zip!conf/app.properties:1 release.tgz!src/settings.py:2 top.zip!conf/app.properties:1]"
	if fmt.Sprint(paths) != want {
		t.Fatalf("got %v, want %s", paths, want)
	}
}

func TestTextThatLooksLikeTarIsText(t *testing.T) {
	dir := t.TempDir()
	tok := token.New("prod")
	write(t, filepath.Join(dir, "f.txt"), strings.Repeat("a", 257)+"ustar"+strings.Repeat("b", 300)+"\n"+tok+"\n")
	if got, _ := scanPaths(t, dir); len(got) != 1 || got[0].Line != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestStdin(t *testing.T) {
	tok := token.New("prod")
	s := New(Options{})
	if err := s.ScanReader(context.Background(), "-", strings.NewReader("a\nb "+tok)); err != nil {
		t.Fatal(err)
	}
	got := s.Findings()
	if len(got) != 1 || got[0].Path != "-" || got[0].Line != 2 || got[0].Column != 3 {
		t.Fatalf("got %v", got)
	}
}

func TestMissingPath(t *testing.T) {
	s := New(Options{})
	err := s.ScanPaths(context.Background(), []string{filepath.Join(t.TempDir(), "nope")})
	var pe *PathError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v", err)
	}
}

func addTar(t *testing.T, tw *tar.Writer, name, content string) {
	t.Helper()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestGitHistoryAddedThenRemoved(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	tok := token.New("prod")
	git(t, dir, "init", "-q", "-b", "main")
	write(t, filepath.Join(dir, "app/config.yml"), "name: app\nregion: eu\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "first")
	write(t, filepath.Join(dir, "app/config.yml"), "name: app\nregion: eu\ntoken: "+tok+"\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "oops")
	added := git(t, dir, "rev-parse", "HEAD")
	write(t, filepath.Join(dir, "app/config.yml"), "name: app\nregion: eu\n")
	git(t, dir, "commit", "-q", "-am", "remove the token")
	// on another branch, a look-alike and a second real token in a new file
	git(t, dir, "checkout", "-q", "-b", "feature")
	tok2 := token.New("dev")
	write(t, filepath.Join(dir, "ci/deploy file.sh"), "#!/bin/sh\n"+lookalikes(t)[0]+"\nexport T="+tok2+"\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "deploy")
	onBranch := git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "-q", "main")

	// the work tree is clean now...
	if got, _ := scanPaths(t, dir); len(got) != 0 {
		t.Fatalf("work tree: %v", got)
	}
	// ...the history is not
	s := New(Options{})
	if err := s.ScanGitHistory(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	got := s.Findings()
	want := []Finding{
		{Path: filepath.Join(dir, "app/config.yml"), Commit: added, Line: 3, Column: 8, EndColumn: 53, Prefix: tok[:12], Environment: "production", SHA256: sha(tok)},
		{Path: filepath.Join(dir, "ci/deploy file.sh"), Commit: onBranch, Line: 3, Column: 10, EndColumn: 54, Prefix: tok2[:12], Environment: "sandbox", SHA256: sha(tok2)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history:\n got %v\nwant %v", got, want)
	}
	// a sub-folder limits the history to it
	s = New(Options{})
	if err := s.ScanGitHistory(context.Background(), filepath.Join(dir, "app")); err != nil {
		t.Fatal(err)
	}
	if got := s.Findings(); len(got) != 1 || got[0].Path != filepath.Join(dir, "app", "config.yml") {
		t.Fatalf("sub-folder: %v", got)
	}
	// not a repository
	err := New(Options{}).ScanGitHistory(context.Background(), t.TempDir())
	if !errors.Is(err, ErrNotGitRepository) {
		t.Fatalf("outside a repository: %v", err)
	}
}

func TestLinksGivenAreFollowedLinksInsideAreNot(t *testing.T) {
	dir := t.TempDir()
	tok := token.New("prod")
	write(t, filepath.Join(dir, "real/app.env"), "T="+tok+"\n")
	os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "dirlink"))
	os.Symlink(filepath.Join(dir, "real/app.env"), filepath.Join(dir, "filelink"))
	os.MkdirAll(filepath.Join(dir, "other"), 0o755)
	os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "other/inner"))
	// a FIFO inside a folder is not opened (it would block)
	if err := syscallMkfifo(filepath.Join(dir, "other/pipe")); err != nil {
		t.Log("no FIFO:", err)
	}
	got, _ := scanPaths(t, filepath.Join(dir, "dirlink"), filepath.Join(dir, "filelink"), filepath.Join(dir, "other"))
	var paths []string
	for _, f := range got {
		paths = append(paths, strings.TrimPrefix(f.Path, dir))
	}
	if want := "[/dirlink/app.env /filelink]"; fmt.Sprint(paths) != want {
		t.Fatalf("got %v, want %s", paths, want)
	}
}

func TestTokenInAFileNameIsMasked(t *testing.T) {
	dir := t.TempDir()
	tok := token.New("prod")
	write(t, filepath.Join(dir, "keys", tok+".txt"), "T="+tok+"\n")
	got, _ := scanPaths(t, dir)
	if len(got) != 1 || strings.Contains(got[0].Path, tok) || !strings.HasSuffix(got[0].Path, "keys/"+tok[:12]+"….txt") {
		t.Fatalf("got %v", got)
	}
}

func TestZstdIsSkippedWithAWarning(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "layer"), "\x28\xb5\x2f\xfdcompressed")
	got, warns := scanPaths(t, dir)
	if len(got) != 0 || len(warns) != 1 || !strings.Contains(warns[0], "zstd-compressed data is not scanned") {
		t.Fatalf("findings %v, warnings %v", got, warns)
	}
}

func TestAFileNamedTwiceIsReportedOnce(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a/app.env"), "T="+token.New("prod")+"\n")
	got, _ := scanPaths(t, dir, filepath.Join(dir, "a")+"/", dir+"/./a/app.env")
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
}
