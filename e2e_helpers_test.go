package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// testServer is a real server on 127.0.0.1 with a SQLite file, in process.
type testServer struct {
	URL      string
	Srv      *server.Server
	Store    *store.Store
	Token    string // dev's csy_dev_ key
	Password string // dev's password
}

func startServer(t *testing.T, cfg server.Config) *testServer {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	cfg.Issuer = url
	srv := server.New(cfg, st)
	pw, tok, err := srv.BootstrapDev(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return &testServer{URL: url, Srv: srv, Store: st, Token: tok, Password: pw}
}

// cli is one invocation of the real CLI: this test binary re-executed with
// CODESYNC_RUN_MAIN=1, in a clean environment.
func cli(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	base := []string{"CODESYNC_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, k := range []string{"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "CODESYNC_TEST_KEYRING"} {
		if v, ok := os.LookupEnv(k); ok {
			base = append(base, k+"="+v)
		}
	}
	cmd.Env = append(base, env...)
	return cmd
}

// runCLI runs the CLI and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := cli(t, env, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = bytes.NewBufferString(stdin)
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("codesync-cli %v did not finish", args)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// syncBuffer collects a child process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
