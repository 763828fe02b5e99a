package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// mint gives user (created if need be) a key made directly in the store: the
// fixture of a credential no API call may hand out (a production key or
// npm:scope:write on a server whose dev key has neither).
func (e *env) mint(user, environment string, scopes ...string) string {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.st.UserByName(ctx, user)
	if err != nil {
		if u, err = e.st.CreateUser(ctx, user, server.HashPassword("password1"), e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	kind := "prod"
	if environment == model.EnvSandbox {
		kind = "dev"
	}
	tok := token.New(kind)
	now := e.clock.Now().Truncate(time.Second)
	k := &store.KeyRecord{ID: "key_" + token.RandomString(16), UserID: u.ID, Name: "fixture", Prefix: token.Prefix(tok), TokenHash: token.Hash(tok),
		Environment: environment, Scopes: scopes, CIDRs: []string{}, Namespaces: []string{}, CreatedAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour)}
	if err := e.st.CreateKey(ctx, k, 100, &store.Event{UserID: &u.ID, Type: model.EventTokenCreated, Time: now, Actor: user, Detail: "fixture"}); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// serving is a server run by Serve itself (with its background purge) on a
// loopback listener, over a real SQLite file, with a clock the test moves.
func serving(t *testing.T, cfg server.Config) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC()}
	cfg.Now = clk.Now
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer = "http://" + ln.Addr().String()
	srv := server.New(cfg, st)
	_, tok, err := srv.BootstrapDev(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, ln, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	// httptest.Server is only used for its URL here
	return &env{t: t, srv: srv, ts: &httptest.Server{URL: cfg.Issuer}, st: st, token: tok, clock: clk}
}

func countRows(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Finding 10: anonymous requests no longer grow the database forever.
func TestPeriodicPurgeDeletesExpiredRows(t *testing.T) {
	e := serving(t, server.Config{AnonRate: 100000, PurgeInterval: 50 * time.Millisecond})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 2000; i += 8 {
				res, err := http.PostForm(e.ts.URL+"/oauth/device/code", url.Values{"client_id": {"codesync-cli"}})
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	// an OAuth session and a stored rotation answer
	u, _ := e.st.UserByName(context.Background(), "dev")
	now := e.clock.Now()
	acc := &store.OAuthToken{ID: "tok_a", FamilyID: "fam", UserID: u.ID, Kind: "access", Hash: []byte("a"), Scopes: []string{"keys:read"}, CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
	ref := &store.OAuthToken{ID: "tok_r", FamilyID: "fam", UserID: u.ID, Kind: "refresh", Hash: []byte("r"), Scopes: []string{"keys:read"}, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}
	if err := e.st.IssueTokens(context.Background(), acc, ref); err != nil {
		t.Fatal(err)
	}
	k, _ := e.create(e.token, model.CreateKeyRequest{Name: "r", Scopes: []string{"keys:read"}})
	expect(t, e.do("POST", "/v1/keys/"+k.ID+"/rotate", e.token, map[string]any{}, "Idempotency-Key", "purge-test"), 200, "")

	if n := countRows(t, e.st, "device_codes"); n != 2000 {
		t.Fatalf("%d device codes, want 2000", n)
	}
	before := map[string]int{}
	for _, tb := range []string{"device_codes", "oauth_tokens", "idempotency"} {
		before[tb] = countRows(t, e.st, tb)
	}
	// a day and a bit later everything above has expired
	e.clock.Add(27 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for countRows(t, e.st, "device_codes")+countRows(t, e.st, "idempotency")+countRows(t, e.st, "oauth_tokens") > 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	after := map[string]int{"device_codes": countRows(t, e.st, "device_codes"), "oauth_tokens": countRows(t, e.st, "oauth_tokens"), "idempotency": countRows(t, e.st, "idempotency")}
	t.Logf("rows before %v, after %v", before, after)
	// the 30-day refresh token is still usable and stays
	if after["device_codes"] != 0 || after["idempotency"] != 0 || after["oauth_tokens"] != 1 {
		t.Fatalf("rows before %v, after %v: want only the live refresh token left", before, after)
	}
}

// fromAddr is a browser-like client whose connections come from local
// address ip (any of 127.0.0.0/8 is this host on Linux).
func fromAddr(ip string) *http.Client {
	hc := noRedirect()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	hc.Transport = &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	return hc
}

// Finding 7: failed sign-ins count by network, and junk names from one
// network cannot lift another user's lockout.
func TestSignInLockoutCountsByNetwork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs the whole of 127.0.0.0/8 on loopback (Linux)")
	}
	e := start(t, server.Config{AnonRate: 100000})
	pw := devPassword(t, e)
	page := authorizeURL(e.ts.URL, nil)
	signIn := func(ip, user, pass string) string {
		res := signInAt(t, fromAddr(ip), page, url.Values{"username": {user}, "password": {pass}, "action": {"approve"}})
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusFound {
			return "signed in"
		}
		return string(b)
	}
	for range 5 {
		signIn("127.0.4.1", "dev", "wrong")
	}
	// junk names from many addresses of one /24: after 5 failures the whole
	// network is locked out, so it cannot fill the failure table
	for i := 1; i <= 20; i++ {
		body := signIn(fmt.Sprintf("127.0.5.%d", i), fmt.Sprintf("junk-%d", i), "wrong")
		if i > 5 && !strings.Contains(body, "Too many failed sign-ins") {
			t.Fatalf("failure %d from 127.0.5.0/24 was not throttled", i)
		}
	}
	if body := signIn("127.0.6.1", "dev", pw); !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("the victim's lockout was lifted: %.200s", body)
	}
}

// Finding 3: a stored rotation answer is kept 24 hours, not forever.
func TestStoredRotationAnswerExpires(t *testing.T) {
	e := start(t, server.Config{})
	k, _ := e.create(e.token, model.CreateKeyRequest{Name: "r", Scopes: []string{"keys:read"}})
	first := e.do("POST", "/v1/keys/"+k.ID+"/rotate", e.token, map[string]any{}, "Idempotency-Key", "day-old")
	expect(t, first, 200, "")
	e.clock.Add(23 * time.Hour)
	again := e.do("POST", "/v1/keys/"+k.ID+"/rotate", e.token, map[string]any{}, "Idempotency-Key", "day-old")
	expect(t, again, 200, "")
	e.clock.Add(2 * time.Hour)
	late := e.do("POST", "/v1/keys/"+k.ID+"/rotate", e.token, map[string]any{}, "Idempotency-Key", "day-old")
	if late.status == 200 {
		t.Fatalf("a 25-hour-old rotation answer was replayed: %s", late.body)
	}
}

// Finding 4: a user at the limit can still rotate, and keys in grace do not
// count, but each key has at most one predecessor in grace.
func TestKeyLimitWithRotations(t *testing.T) {
	e := start(t, server.Config{})
	var last model.KeyWithToken
	for i := 2; i <= 12; i++ {
		k, r := e.create(e.token, model.CreateKeyRequest{Name: fmt.Sprint("k", i), Scopes: []string{"keys:read"}})
		expect(t, r, 201, "")
		last = k
	}
	id := last.ID
	for range 3 {
		r := e.do("POST", "/v1/keys/"+id+"/rotate", e.token, map[string]any{"grace_seconds": 30 * 24 * 3600})
		expect(t, r, 200, "")
		var rot model.RotateKeyResponse
		_ = json.Unmarshal(r.body, &rot)
		id = rot.New.ID
	}
	_, r := e.create(e.token, model.CreateKeyRequest{Name: "k13", Scopes: []string{"keys:read"}})
	expect(t, r, 409, "key_limit_reached")
	var list model.KeyList
	_ = json.Unmarshal(e.do("GET", "/v1/keys", e.token, nil).body, &list)
	if len(list.Keys) != 13 { // 12 counted + one predecessor in grace
		t.Fatalf("%d usable keys, want 13", len(list.Keys))
	}
}

// Finding 9: the server's CSV export writes formula-like cells as text.
func TestCSVExportEscapesFormulas(t *testing.T) {
	e := start(t, server.Config{})
	e.create(e.token, model.CreateKeyRequest{Name: `=HYPERLINK("http://evil.example","click")`, Scopes: []string{"keys:read"}})
	r := e.do("GET", "/v1/keys/export?format=csv", e.token, nil)
	if !strings.Contains(string(r.body), `"'=HYPERLINK(`) || strings.Contains(string(r.body), `"=HYPERLINK(`) {
		t.Fatalf("formula cell not escaped:\n%s", r.body)
	}
}

// The rotation grace loophole: create, rotate with a long grace, revoke the
// replacement; repeated, the predecessors in grace (uncounted) would pile up
// beyond the 12-key limit. Revoking a key ends its predecessor's grace.
func TestRevokingReplacementEndsPredecessorGrace(t *testing.T) {
	e := start(t, server.Config{DevRate: 1000, AnonRate: 1000})
	var olds []string
	for i := range 14 {
		k, r := e.create(e.token, model.CreateKeyRequest{Name: fmt.Sprint("loop", i), Scopes: []string{"keys:read"}})
		expect(t, r, 201, "")
		r = e.do("POST", "/v1/keys/"+k.ID+"/rotate", e.token, map[string]any{"grace_seconds": 30 * 24 * 3600})
		expect(t, r, 200, "")
		var rot model.RotateKeyResponse
		_ = json.Unmarshal(r.body, &rot)
		expect(t, e.do("DELETE", "/v1/keys/"+rot.New.ID, e.token, nil), 200, "")
		olds = append(olds, k.Token)
	}
	for i, tok := range olds {
		if r := e.do("GET", "/v1/keys", tok, nil); r.status != 401 {
			t.Errorf("predecessor %d is still usable after its replacement was revoked: %d", i, r.status)
		}
	}
	var list model.KeyList
	_ = json.Unmarshal(e.do("GET", "/v1/keys", e.token, nil).body, &list)
	if len(list.Keys) > 12 {
		t.Errorf("%d usable keys, over the limit of 12", len(list.Keys))
	}
}
