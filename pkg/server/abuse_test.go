package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// TestSlowlorisIsCut: a client that sends half a request head and then waits
// is disconnected after the header timeout, by the real http.Server setup.
func TestSlowlorisIsCut(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := server.New(server.Config{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}, st)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln, nil); close(done) }()
	defer func() { cancel(); <-done }()

	for _, head := range []string{"GET /v1/auth/health HTTP/1.1\r\nHost: x\r\n", ""} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(head))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		start := time.Now()
		_, err = io.ReadAll(c)
		c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("a slow client (%q) held its connection for 3 s", head)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("cut after %s", el)
		}
	}
}

// TestManyConcurrentClients: 40 clients create, list and revoke at once (run
// under -race); no request fails with a 5xx and the 12-key limit holds.
func TestManyConcurrentClients(t *testing.T) {
	e := start(t, server.Config{DevRate: 1e6, ProdRate: 1e6})
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for w := 0; w < 40; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ee := *e
			ee.t = &quietT{TB: t}
			for i := 0; i < 10; i++ {
				k, r := ee.create(e.token, model.CreateKeyRequest{Name: fmt.Sprintf("w%d-%d", w, i), Scopes: []string{"keys:read"}})
				if r.status >= 500 {
					errs <- fmt.Sprintf("create: %d %s", r.status, r.body)
				}
				if r.status == 201 {
					if r := ee.do("DELETE", "/v1/keys/"+k.ID, e.token, nil); r.status >= 500 {
						errs <- fmt.Sprintf("revoke: %d", r.status)
					}
				}
				if r := ee.do("GET", "/v1/keys?limit=5", e.token, nil); r.status >= 500 {
					errs <- fmt.Sprintf("list: %d", r.status)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Error(s)
	}
	var active int
	e.st.DB().QueryRow(`SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND expires_at > ?`, time.Now().Unix()).Scan(&active)
	if active > 12 {
		t.Fatalf("%d active keys: the limit broke under concurrency", active)
	}
}

// quietT lets goroutines use the helpers (Fatal from a goroutine is not allowed).
type quietT struct{ testing.TB }

func (q *quietT) Fatal(args ...any)                 { q.TB.Error(args...); panicStop() }
func (q *quietT) Fatalf(format string, args ...any) { q.TB.Errorf(format, args...); panicStop() }
func (q *quietT) Helper()                           {}

func panicStop() { panic("stop worker") }
