// Package oidcpeer starts the independent OpenID provider of the tests — the
// npm package oidc-provider, from testdata/oidcprovider — on 127.0.0.1.
// Without Node.js a test skips, except in CI (CI=true), where it fails.
package oidcpeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Start runs server.mjs in dir (the testdata/oidcprovider folder, installing
// its node_modules with `npm ci` when missing) with extra environment
// variables, and returns its issuer URL. The provider stops with the test.
func Start(t testing.TB, dir string, env ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed: CI must run the tests against oidc-provider (.ci/run installs it with `npm ci` in testdata/oidcprovider)")
		}
		t.Skip("node is not installed: skipping the tests against oidc-provider (install Node.js 20+ and run `npm ci` in testdata/oidcprovider)")
	}
	install(t, dir)
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdin, _ := cmd.StdinPipe() // the provider stops when this closes
	stdout, _ := cmd.StdoutPipe()
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("oidc-provider's stderr:\n%s", stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		var v struct {
			Issuer string `json:"issuer"`
		}
		if json.Unmarshal([]byte(l), &v) != nil || !strings.HasPrefix(v.Issuer, "http://127.0.0.1:") {
			t.Fatalf("oidc-provider did not start: %q\n%s", l, stderr.String())
		}
		return v.Issuer
	case <-time.After(30 * time.Second):
		t.Fatalf("oidc-provider did not start within 30 s\n%s", stderr.String())
	}
	return ""
}

// install runs `npm ci` in dir when oidc-provider is not installed there.
func install(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("node is installed but npm is not: run `npm ci` in " + dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

// lockedBuffer collects the provider's stderr while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
