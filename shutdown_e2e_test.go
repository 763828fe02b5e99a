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
	const seedKeys = 2000
	db := filepath.Join(t.TempDir(), "db.sqlite")
	// stop carries what was seen when the server said "server stopped": the
	// line must mean what it says, so the WAL is already checkpointed then.
	type stop struct {
		walAtLine int64 // -1: no WAL file when the line arrived
		line      bool
		err       error // cmd.Wait: nil means exit status 0
		tail      []string
	}
	walSize := func() int64 {
		fi, err := os.Stat(db + "-wal")
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	startSrv := func() (*os.Process, map[string]string, chan stop) {
		cmd := cli(t, []string{"CODESYNC_CONFIG_DIR=" + t.TempDir()}, "server", "--dev", "--db", db, "--addr", "127.0.0.1:0")
		out, _ := cmd.StdoutPipe()
		errPipe, _ := cmd.StderrPipe()
		exited := make(chan stop, 1)
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
		outDone := make(chan struct{})
		go func() { io.Copy(io.Discard, out); close(outDone) }()
		go func() {
			var s stop
			s.walAtLine = -2
			sc := bufio.NewScanner(errPipe)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "server stopped") {
					s.line, s.walAtLine = true, walSize()
				}
				if s.tail = append(s.tail, sc.Text()); len(s.tail) > 5 {
					s.tail = s.tail[1:]
				}
			}
			<-outDone
			// the process has closed both pipes; Wait reaps it
			s.err = cmd.Wait()
			exited <- s
		}()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		return cmd.Process, vars, exited
	}
	// waitExit: the process ends with status 0, after saying "server stopped"
	// at a moment its database was already checkpointed.
	waitExit := func(what string, exited chan stop) {
		t.Helper()
		select {
		case s := <-exited:
			exited <- s // for the cleanup
			if s.err != nil || !s.line {
				t.Fatalf("%s: exit %v, said \"server stopped\": %v; its last lines:\n%s", what, s.err, s.line, strings.Join(s.tail, "\n"))
			}
			if s.walAtLine > 0 {
				t.Fatalf("%s: \"server stopped\" printed before the WAL was checkpointed (%d bytes)", what, s.walAtLine)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no clean stop", what)
		}
	}
	// first start creates the database; seed it while the server is down
	p, _, exited := startSrv()
	p.Signal(syscall.SIGTERM)
	waitExit("first start", exited)
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	// enough to be streaming when SIGTERM arrives (~1.8 MB), small enough to
	// finish within the server's 30 s shutdown grace even under -race on a
	// loaded machine (5,000 keys and 20,000 events did not, 2 runs in 50)
	if err := st.Seed(context.Background(), 1, seedKeys, 4*seedKeys, time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	p, vars, exited := startSrv()
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
	// the seeded keys, the first start's dev key (revoked) and the second's
	if len(doc.Keys) != seedKeys+2 {
		t.Fatalf("export has %d keys, want %d", len(doc.Keys), seedKeys+2)
	}
	waitExit("after the export", exited)
	if n := walSize(); n > 0 {
		t.Fatalf("WAL not checkpointed at shutdown: %d bytes", n)
	}
	st, err = store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var check string
	if err := st.DB().QueryRow("PRAGMA integrity_check").Scan(&check); err != nil {
		t.Fatal(err)
	}
	if check != "ok" {
		t.Fatal(check)
	}
}
