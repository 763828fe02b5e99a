package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server/store"
)

// TestGracefulShutdown: SIGTERM while an export streams lets it finish (no
// request lost), then the server exits 0 with its database checkpointed.
func TestGracefulShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db.sqlite")
	startSrv := func() (*os.Process, map[string]string, chan struct{}) {
		cmd := cli(t, []string{"CODESYNC_CONFIG_DIR=" + t.TempDir()}, "server", "--dev", "--db", db, "--addr", "127.0.0.1:0")
		out, _ := cmd.StdoutPipe()
		errPipe, _ := cmd.StderrPipe()
		stopped := make(chan struct{})
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		sc := bufio.NewScanner(out)
		for len(vars) < 4 && sc.Scan() {
			if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
				vars[k] = v
			}
		}
		go io.Copy(io.Discard, out)
		go func() {
			sc := bufio.NewScanner(errPipe)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "server stopped") {
					close(stopped)
				}
			}
		}()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process, vars, stopped
	}
	// first start creates the database; seed it while the server is down
	p, _, stopped := startSrv()
	p.Signal(syscall.SIGTERM)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("no clean stop")
	}
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Seed(context.Background(), 1, 5000, 20000, time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	p, vars, stopped := startSrv()
	req, _ := http.NewRequest("GET", vars["CODESYNC_SERVER"]+"/v1/keys/export?format=json&include_events=true", nil)
	req.Header.Set("Authorization", "Bearer "+vars["CODESYNC_AUTH_TOKEN"])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGTERM) // while the body streams
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || !json.Valid(body) {
		t.Fatalf("the in-flight export was cut: %v, %d bytes", err, len(body))
	}
	var doc struct{ Keys []json.RawMessage }
	json.Unmarshal(body, &doc)
	// 5,000 seeded, the first start's dev key (revoked) and the second's
	if len(doc.Keys) != 5002 {
		t.Fatalf("export has %d keys, want 5002", len(doc.Keys))
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("no clean stop after the export")
	}
	if fi, err := os.Stat(db + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("WAL not checkpointed at shutdown: %d bytes", fi.Size())
	}
	st, err = store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var check string
	st.DB().QueryRow("PRAGMA integrity_check").Scan(&check)
	if check != "ok" {
		t.Fatal(check)
	}
}
