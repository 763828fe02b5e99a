package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// TestHelperServe is not a test: the crash test runs it in a child process as
// a real server on a database file, so it can be killed with SIGKILL.
func TestHelperServe(t *testing.T) {
	db := os.Getenv("CODESYNC_HELPER_DB")
	if db == "" {
		t.Skip("helper process only")
	}
	st, err := store.Open(db)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	srv := server.New(server.Config{DevRate: 100000, ProdRate: 100000}, st)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	tok := os.Getenv("CODESYNC_HELPER_TOKEN")
	if tok == "" {
		_, tok, err = srv.BootstrapDev(context.Background())
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
	}
	fmt.Printf("READY http://%s %s\n", ln.Addr(), tok)
	_ = srv.Serve(context.Background(), ln, nil)
	os.Exit(0)
}

func startChild(t *testing.T, db, tok string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
	cmd.Env = append(os.Environ(), "CODESYNC_HELPER_DB="+db, "CODESYNC_HELPER_TOKEN="+tok)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "READY" {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, f[1], f[2]
		}
	}
	t.Fatal("child server did not start")
	return nil, "", ""
}

func TestDataSurvivesRestartAndSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	db := filepath.Join(t.TempDir(), "db.sqlite")
	cmd, url, tok := startChild(t, db, "")
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(name string) int {
		body := fmt.Sprintf(`{"name":%q,"scopes":["keys:read"]}`, name)
		req, _ := http.NewRequest("POST", url+"/v1/keys", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	if post("first") != 201 {
		t.Fatal("create failed")
	}
	// a burst of writes (creates and revokes) from 4 clients, killed midway
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if post(fmt.Sprintf("w%d-%d", w, i)) == 409 {
					// limit reached: revoke everything but the bootstrap key
					req, _ := http.NewRequest("GET", url+"/v1/keys", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					res, err := client.Do(req)
					if err != nil {
						return
					}
					var l model.KeyList
					json.NewDecoder(res.Body).Decode(&l)
					res.Body.Close()
					for _, k := range l.Keys {
						if k.Name != "dev-bootstrap" {
							req, _ := http.NewRequest("DELETE", url+"/v1/keys/"+k.ID, nil)
							req.Header.Set("Authorization", "Bearer "+tok)
							if res, err := client.Do(req); err == nil {
								res.Body.Close()
							}
						}
					}
				}
			}
		}(w)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	wg.Wait()

	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	// each count must be read: a query that fails must fail the test, not
	// leave a zero that passes it
	count := func(q string, dst any) {
		t.Helper()
		if err := st.DB().QueryRow(q).Scan(dst); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var check string
	count("PRAGMA integrity_check", &check)
	if check != "ok" {
		t.Fatalf("integrity_check: %s", check)
	}
	// every key has its token:created event and every revoked key its
	// token:revoked: they were written in one transaction each
	var orphans int
	count(`SELECT count(*) FROM api_keys k WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.key_id = k.id AND e.type = 'token:created')`, &orphans)
	var revokedOrphans int
	count(`SELECT count(*) FROM api_keys k WHERE revoked_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.key_id = k.id AND e.type = 'token:revoked')`, &revokedOrphans)
	var active, total int
	count(`SELECT count(*) FROM api_keys WHERE revoked_at IS NULL`, &active)
	count(`SELECT count(*) FROM api_keys`, &total)
	st.Close()
	if orphans != 0 || revokedOrphans != 0 {
		t.Fatalf("torn writes: %d keys without token:created, %d revoked without token:revoked", orphans, revokedOrphans)
	}
	if active > 12 {
		t.Fatalf("%d active keys: the limit was broken", active)
	}
	if total < 3 {
		t.Fatalf("only %d keys written before the kill: the burst did not happen", total)
	}
	t.Logf("%d keys written before SIGKILL, %d active", total, active)

	// restart on the same database: the data is there and the key still works
	_, url2, _ := startChild(t, db, tok)
	req, _ := http.NewRequest("GET", url2+"/v1/keys?all=true&limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var l model.KeyList
	err = json.NewDecoder(res.Body).Decode(&l)
	res.Body.Close()
	if err != nil {
		t.Fatalf("after restart: %d, unreadable key list: %v", res.StatusCode, err)
	}
	if res.StatusCode != 200 || len(l.Keys) == 0 {
		t.Fatalf("after restart: %d, %d keys", res.StatusCode, len(l.Keys))
	}
	names := map[string]bool{}
	for _, k := range l.Keys {
		names[k.Name] = true
	}
	if !names["first"] {
		t.Fatal("the key created before the kill is gone")
	}
}
