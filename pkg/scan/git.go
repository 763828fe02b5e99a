package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotGitRepository: --git-history on a folder outside any git work tree.
var ErrNotGitRepository = errors.New("not in a git repository")

// ScanGitHistory scans the patches of every commit reachable from any ref
// (`git log -p --all`) for the part of the repository under dir. Only added
// lines are read, so a token added in one commit and removed in a later one
// is reported once, at the commit that added it, with its line in that
// commit's version of the file. Paths are dir joined with the path relative
// to dir. A file's history is its own.
func (s *Scanner) ScanGitHistory(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return &PathError{Path: path, Err: err}
	}
	// a file: its own history
	dir, spec := path, "."
	if !fi.IsDir() {
		dir, spec = filepath.Dir(path), filepath.Base(path)
	}
	check := exec.CommandContext(ctx, s.opts.Git, "-C", dir, "rev-parse", "--is-inside-work-tree")
	if out, err := check.Output(); err != nil || strings.TrimSpace(string(out)) != "true" {
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return fmt.Errorf("cannot run git: %w", err)
		}
		return fmt.Errorf("%s: %w", dir, ErrNotGitRepository)
	}
	cmd := exec.CommandContext(ctx, s.opts.Git, "-C", dir,
		"-c", "core.quotepath=off", "-c", "diff.noprefix=false",
		"log", "-p", "--all", "--relative", "--no-color", "--no-ext-diff", "--no-textconv",
		"--no-renames", "--format=%x00commit %H", "--", spec)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot run git: %w", err)
	}
	perr := s.parsePatches(dir, stdout)
	if perr != nil {
		_, _ = io.Copy(io.Discard, stdout)
	}
	werr := cmd.Wait()
	if perr != nil {
		return perr
	}
	if werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("git log in %s: %s", dir, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// parsePatches reads `git log -p` output: commit markers, file headers,
// hunk headers and hunk lines.
func (s *Scanner) parsePatches(dir string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var (
		commit, path string
		inHunk       bool
		newLine      int
	)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte{'\n'})
			switch {
			case len(line) > 0 && line[0] == 0:
				commit, path, inHunk = strings.TrimPrefix(string(line[1:]), "commit "), "", false
			case bytes.HasPrefix(line, []byte("diff --git ")):
				path, inHunk = "", false
			case !inHunk && bytes.HasPrefix(line, []byte("+++ ")):
				path = gitPath(string(line[4:]), "b/")
			case bytes.HasPrefix(line, []byte("@@ ")):
				newLine, inHunk = hunkStart(line), true
			case inHunk && len(line) > 0 && line[0] == '+':
				if path != "" {
					content := line[1:]
					pos := position{line: newLine}
					scanChunk(content, len(content), &pos, func(f Finding) {
						f.Path, f.Commit = filepath.Join(dir, path), commit
						s.add(f)
					})
				}
				newLine++
			case inHunk && len(line) > 0 && line[0] == ' ':
				newLine++
			case inHunk && (len(line) == 0 || line[0] == '-' || line[0] == '\\'):
			default:
				inHunk = false
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// gitPath turns "b/dir/file" (or a quoted "\"b/dir/f\\tile\"") into dir/file;
// "/dev/null" (a deleted file) into "".
func gitPath(p, prefix string) string {
	// git ends a name that holds a space with a tab
	p = strings.TrimSuffix(p, "\t")
	if strings.HasPrefix(p, `"`) {
		if u, err := strconv.Unquote(p); err == nil {
			p = u
		}
	}
	if p == "/dev/null" {
		return ""
	}
	return strings.TrimPrefix(p, prefix)
}

// hunkStart reads c of "@@ -a,b +c,d @@".
func hunkStart(line []byte) int {
	_, after, ok := bytes.Cut(line, []byte(" +"))
	if !ok {
		return 1
	}
	end := bytes.IndexAny(after, ", ")
	if end < 0 {
		end = len(after)
	}
	n, err := strconv.Atoi(string(after[:end]))
	if err != nil {
		return 1
	}
	return n
}
