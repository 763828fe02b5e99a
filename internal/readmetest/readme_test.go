//go:build !windows

// Package readmetest follows the README's Quickstart literally: it reads the
// commands out of the README's fenced block and runs them with bash on a copy
// of the repository, approving the device login over HTTP as a person would
// in a browser. If the README's commands stop working, this test fails.
package readmetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

const repo = "../.."

var (
	userCodeRE = regexp.MustCompile(`\b([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})\b`)
	csrfRE     = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	tokenRE    = regexp.MustCompile(`^csy_(prod|dev)_[0-9A-Za-z]{36}$`)
)

// quickstart returns the first ```sh block under "## Quickstart".
func quickstart(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Quickstart\n")
	if i < 0 {
		t.Fatal("README.md has no '## Quickstart' section")
	}
	s = s[i:]
	if next := strings.Index(s[1:], "\n## "); next >= 0 {
		s = s[:next+1]
	}
	start := strings.Index(s, "\n```sh\n")
	if start < 0 {
		t.Fatal("the Quickstart has no ```sh block")
	}
	block := s[start+len("\n```sh\n"):]
	end := strings.Index(block, "\n```")
	if end < 0 {
		t.Fatal("the Quickstart's ```sh block is not closed")
	}
	return block[:end+1]
}

// TestQuickstartBlockCoversTheLifecycle: the block keeps every step a
// newcomer needs; removing one fails here, not silently.
func TestQuickstartBlockCoversTheLifecycle(t *testing.T) {
	block := quickstart(t)
	for _, step := range []string{
		"make build", "export PATH=$PWD/bin:$PATH", "codesync-cli server --dev", "2> server.log",
		"codesync-cli login --device", "codesync-cli key create", "codesync-cli key rotate",
		"codesync-cli key audit-export", "kill %1",
	} {
		if !strings.Contains(block, step) {
			t.Errorf("the README's Quickstart block lost the step %q", step)
		}
	}
}

// copyRepo copies the files a clone would have (tracked and not ignored)
// from the working tree into dst.
func copyRepo(t *testing.T, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "ls-files", "--cached", "--others", "--exclude-standard", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	n := 0
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		src := filepath.Join(repo, f)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("copied only %d files", n)
	}
}

func goEnv(t *testing.T, names ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"env"}, names...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	vals := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	var env []string
	for i, n := range names {
		env = append(env, n+"="+vals[i])
	}
	return env
}

// approveDevice signs in on the server's /device page and approves code, as
// a person does in a browser: GET the form (and its CSRF cookie), POST it.
func approveDevice(base, code, user, password string) (string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := hc.Get(base + "/device?user_code=" + url.QueryEscape(code))
	if err != nil {
		return "", err
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		return "", errors.New("no csrf_token on the device page")
	}
	res, err = hc.PostForm(base+"/device", url.Values{"username": {user}, "password": {password},
		"user_code": {code}, "csrf_token": {string(m[1])}, "action": {"approve"}})
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return string(body), nil
}

// readEnvFile reads the export lines of `server --dev` from server.env.
func readEnvFile(path string) map[string]string {
	b, _ := os.ReadFile(path)
	vals := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "export "), "="); ok {
			vals[k] = v
		}
	}
	return vals
}

// TestReadmeQuickstart runs the Quickstart block as it stands, with bash, in
// a copy of the repository with a fresh HOME and no CODESYNC_ variables: it
// builds, puts bin/ on PATH, starts the server with its log in a file, logs
// in with the device flow (approved here over HTTP), creates, lists and
// rotates a key and exports the audit CSV, then stops the server.
func TestReadmeQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI and runs the README's Quickstart")
	}
	for _, tool := range []string{"bash", "make", "git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to follow the README", tool)
		}
	}
	block := quickstart(t)
	tmp := t.TempDir()
	clone, scratch, home := filepath.Join(tmp, "codesync-cli"), filepath.Join(tmp, "scratch"), filepath.Join(tmp, "home")
	copyRepo(t, clone)
	for _, d := range []string{scratch, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(tmp, "quickstart.sh")
	if err := os.WriteFile(script, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", script)
	cmd.Dir = clone
	// a newcomer's shell: PATH with go, a fresh HOME, the Go caches so the
	// build needs no network, and nothing of CodeSync set
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + scratch, "GOTOOLCHAIN=local", "LANG=C.UTF-8"},
		goEnv(t, "GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOFLAGS")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// nothing the script started may outlive the test
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	var stderr strings.Builder
	approved := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderrPipe)
		done := false
		for sc.Scan() {
			line := sc.Text()
			stderr.WriteString(line + "\n")
			m := userCodeRE.FindStringSubmatch(line)
			if m == nil || done {
				continue
			}
			done = true
			envs, _ := filepath.Glob(filepath.Join(scratch, "*", "server.env"))
			if len(envs) != 1 {
				approved <- "no single server.env in the scratch folder: " + strings.Join(envs, " ")
				continue
			}
			v := readEnvFile(envs[0])
			page, err := approveDevice(v["CODESYNC_SERVER"], m[1], v["CODESYNC_DEV_USER"], v["CODESYNC_DEV_PASSWORD"])
			switch {
			case err != nil:
				approved <- err.Error()
			case !strings.Contains(page, "Device connected"):
				approved <- "the device page did not approve: " + page
			default:
				approved <- ""
			}
		}
	}()
	<-scanned
	err = cmd.Wait()
	logs := func() string {
		return "\n--- stdout:\n" + stdout.String() + "\n--- stderr:\n" + stderr.String()
	}
	select {
	case msg := <-approved:
		if msg != "" {
			t.Fatalf("approving the device login: %s%s", msg, logs())
		}
	default:
		t.Fatalf("login --device printed no user code (exit %v)%s", err, logs())
	}
	if err != nil {
		t.Fatalf("the README's Quickstart failed: %v%s", err, logs())
	}

	dirs, _ := filepath.Glob(filepath.Join(scratch, "*", "server.env"))
	if len(dirs) != 1 {
		t.Fatalf("server.env: %v", dirs)
	}
	work := filepath.Dir(dirs[0])
	out := stdout.String()
	// the server's log went to its file, not the terminal
	if lg, _ := os.ReadFile(filepath.Join(work, "server.log")); !strings.Contains(string(lg), "listening on") {
		t.Errorf("server.log: %q", lg)
	}
	if strings.Contains(out+stderr.String(), "listening on") || strings.Contains(out+stderr.String(), "level=INFO") {
		t.Errorf("the server's log reached the terminal:%s", logs())
	}
	// logged in as dev with an OAuth session kept in the scratch config
	if !strings.Contains(out+stderr.String(), "dev") || !strings.Contains(stderr.String(), "Logged in to ") {
		t.Errorf("no login:%s", logs())
	}
	if _, err := os.Stat(filepath.Join(work, "config", "credentials.json")); err != nil {
		t.Errorf("the session is not in the scratch config folder: %v", err)
	}
	// the rotated key's token, alone, in the file
	tok, _ := os.ReadFile(filepath.Join(work, "ci-publish.token"))
	if !tokenRE.MatchString(strings.TrimSpace(string(tok))) {
		t.Errorf("ci-publish.token holds %q", tok)
	}
	if strings.Contains(out, strings.TrimSpace(string(tok))) {
		t.Error("the token reached the terminal")
	}
	// the audit export: a header and both generations of ci-publish
	csv, _ := os.ReadFile(filepath.Join(work, "audit.csv"))
	if !strings.HasPrefix(string(csv), "id,name,prefix,") || strings.Count(string(csv), ",ci-publish,") != 2 {
		t.Errorf("audit.csv:\n%s", csv)
	}
	// kill %1 stopped the server
	v := readEnvFile(dirs[0])
	hc := &http.Client{Timeout: 2 * time.Second}
	for i := 0; ; i++ {
		res, err := hc.Get(v["CODESYNC_SERVER"] + "/v1/auth/health")
		if err != nil {
			break
		}
		res.Body.Close()
		if i == 50 {
			t.Fatal("the server still answers 5 s after the Quickstart's kill %1")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUserDocsStandAlone: the README and everything in docs/ (guides, API,
// generated reference and man pages) stand alone, without pointing to a
// contract file outside the repository.
func TestUserDocsStandAlone(t *testing.T) {
	files := []string{filepath.Join(repo, "README.md")}
	err := filepath.WalkDir(filepath.Join(repo, "docs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d files in docs/", len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, bad := range []string{"../shared", "SPEC.md", "SPEC §"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s refers to %q, outside the repository: say it in docs/ instead", f, bad)
			}
		}
	}
}
