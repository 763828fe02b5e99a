package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// env is a real server on loopback over a real SQLite file.
type env struct {
	t     testing.TB
	srv   *server.Server
	ts    *httptest.Server
	st    *store.Store
	token string // the dev user's bootstrap key
	clock *clock
	// tokens are the keys of the users made with e.user, by name
	tokens map[string]string
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func start(t testing.TB, cfg server.Config) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC()}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	srv := server.New(cfg, st)
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Start()
	srv.SetIssuer(ts.URL)
	t.Cleanup(func() { ts.Close(); st.Close() })
	_, tok, err := srv.BootstrapDev(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, ts: ts, st: st, token: tok, clock: clk}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errCode() string {
	var e model.Error
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

func (e *env) do(method, path, tok string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		// a request the test cannot build is a broken test, never a pass
		e.t.Fatalf("cannot build %s %s: %v", method, path, err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) create(tok string, req model.CreateKeyRequest) (model.KeyWithToken, resp) {
	e.t.Helper()
	r := e.do("POST", "/v1/keys", tok, req)
	var k model.KeyWithToken
	if r.status == 201 {
		if err := json.Unmarshal(r.body, &k); err != nil {
			e.t.Fatal(err)
		}
	}
	return k, r
}

func expect(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || r.errCode() != code {
		t.Fatalf("want %d %q, got %d %s", status, code, r.status, r.body)
	}
}

var allScopes = []string{"keys:read", "keys:write", "audit:read", "registry:read", "registry:publish"}

func TestErrorTable(t *testing.T) {
	e := start(t, server.Config{})
	// 400 invalid_request
	expect(t, e.do("POST", "/v1/keys", e.token, `{"name":`), 400, "invalid_request")
	expect(t, e.do("POST", "/v1/keys", e.token, model.CreateKeyRequest{Name: "x", Scopes: []string{"bogus"}}), 400, "invalid_request")
	expect(t, e.do("POST", "/v1/keys", e.token, model.CreateKeyRequest{Name: "x", Scopes: []string{"keys:read"}, CIDRs: []string{"10.0.0.0/99"}}), 400, "invalid_request")
	expect(t, e.do("POST", "/v1/keys", e.token, model.CreateKeyRequest{Name: "x", Scopes: []string{"keys:read"}, ExpiresIn: 60}), 400, "invalid_request")
	// 401 invalid_token: missing, malformed, unknown, expired, revoked
	for _, tok := range []string{"", "garbage", "csy_prod_" + strings.Repeat("a", 36), token.New("prod")} {
		r := e.do("GET", "/v1/keys", tok, nil)
		expect(t, r, 401, "invalid_token")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate: %q", r.header.Get("WWW-Authenticate"))
		}
	}
	short, _ := e.create(e.token, model.CreateKeyRequest{Name: "short", Scopes: []string{"keys:read"}, ExpiresIn: 3600})
	e.clock.Add(2 * time.Hour)
	expect(t, e.do("GET", "/v1/keys", short.Token, nil), 401, "invalid_token")
	rev, _ := e.create(e.token, model.CreateKeyRequest{Name: "rev", Scopes: []string{"keys:read"}})
	e.do("DELETE", "/v1/keys/"+rev.ID, e.token, nil)
	expect(t, e.do("GET", "/v1/keys", rev.Token, nil), 401, "invalid_token")
	// 403 insufficient_scope
	ro, _ := e.create(e.token, model.CreateKeyRequest{Name: "ro", Scopes: []string{"registry:read"}})
	r := e.do("GET", "/v1/keys", ro.Token, nil)
	expect(t, r, 403, "insufficient_scope")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="keys:read"`) {
		t.Fatal(r.header)
	}
	// 403 ip_not_allowed
	far, _ := e.create(e.token, model.CreateKeyRequest{Name: "far", Scopes: []string{"keys:read"}, CIDRs: []string{"10.0.0.0/8"}})
	expect(t, e.do("GET", "/v1/keys", far.Token, nil), 403, "ip_not_allowed")
	near, _ := e.create(e.token, model.CreateKeyRequest{Name: "near", Scopes: []string{"keys:read"}, CIDRs: []string{"192.0.2.0/24", "127.0.0.0/8"}})
	expect(t, e.do("GET", "/v1/keys", near.Token, nil), 200, "")
	// 404 not_found
	expect(t, e.do("GET", "/v1/keys/key_nope", e.token, nil), 404, "not_found")
	// 409 already_revoked
	expect(t, e.do("DELETE", "/v1/keys/"+rev.ID, e.token, nil), 409, "already_revoked")
	// 403 account_suspended
	if err := e.st.SetSuspended(context.Background(), "dev", true); err != nil {
		t.Fatal(err)
	}
	// suspension by another process (server user suspend) counts within the
	// credential cache's 5 s
	e.clock.Add(6 * time.Second)
	expect(t, e.do("GET", "/v1/keys", e.token, nil), 403, "account_suspended")
	// errors are JSON with error_description
	var body model.Error
	if json.Unmarshal(r.body, &body) != nil || body.Description == "" {
		t.Fatalf("error body %s", r.body)
	}
}

func TestSandboxRefusesProdKey(t *testing.T) {
	prod := start(t, server.Config{})
	// a csy_dev_ key cannot make a csy_prod_ key: a production credential can
	k, _ := prod.create(prod.mint("dev", model.EnvProduction, "keys:read", "keys:write"), model.CreateKeyRequest{Name: "p", Scopes: []string{"keys:read"}, Environment: "production"})
	if !strings.HasPrefix(k.Token, "csy_prod_") {
		t.Fatal(k.Token)
	}
	// the same database served as a sandbox
	sb := server.New(server.Config{Environment: model.EnvSandbox}, prod.st)
	ts := httptest.NewServer(sb.Handler())
	defer ts.Close()
	e2 := *prod
	e2.ts = ts
	expect(t, e2.do("GET", "/v1/keys", k.Token, nil), 403, "environment_mismatch")
	expect(t, e2.do("GET", "/v1/keys", prod.token, nil), 200, "") // csy_dev_ is fine
}

func TestKeyLimit(t *testing.T) {
	e := start(t, server.Config{})
	// the bootstrap key is the first of 12
	for i := 2; i <= 12; i++ {
		if _, r := e.create(e.token, model.CreateKeyRequest{Name: fmt.Sprint("k", i), Scopes: []string{"keys:read"}}); r.status != 201 {
			t.Fatalf("key %d: %d %s", i, r.status, r.body)
		}
	}
	_, r := e.create(e.token, model.CreateKeyRequest{Name: "k13", Scopes: []string{"keys:read"}})
	expect(t, r, 409, "key_limit_reached")
}

func TestScopeEscalationRefused(t *testing.T) {
	e := start(t, server.Config{})
	_, r := e.create(e.token, model.CreateKeyRequest{Name: "x", Scopes: []string{"npm:scope:write"}})
	expect(t, r, 403, "insufficient_scope")
	narrow, _ := e.create(e.token, model.CreateKeyRequest{Name: "n", Scopes: []string{"keys:read", "keys:write"}})
	_, r = e.create(narrow.Token, model.CreateKeyRequest{Name: "wide", Scopes: []string{"audit:read"}})
	expect(t, r, 403, "insufficient_scope")
	// rotating a key with wider scopes than the caller is refused too
	wide, _ := e.create(e.token, model.CreateKeyRequest{Name: "w", Scopes: []string{"registry:publish"}})
	expect(t, e.do("POST", "/v1/keys/"+wide.ID+"/rotate", narrow.Token, map[string]any{}), 403, "insufficient_scope")
	var ev model.EventList
	json.Unmarshal(e.do("GET", "/v1/audit/events?type=scope:escalated", e.token, nil).body, &ev)
	if len(ev.Events) != 3 {
		t.Fatalf("want 3 scope:escalated events, got %+v", ev.Events)
	}
}

func TestRotateGraceThenExpiry(t *testing.T) {
	e := start(t, server.Config{})
	old, _ := e.create(e.token, model.CreateKeyRequest{Name: "ci", Scopes: []string{"keys:read"}, CIDRs: []string{"127.0.0.0/8"}, Namespaces: []string{"@acme"}})
	r := e.do("POST", "/v1/keys/"+old.ID+"/rotate", e.token, map[string]any{"grace_seconds": 3600}, "Idempotency-Key", "rot-1")
	expect(t, r, 200, "")
	var rot model.RotateKeyResponse
	json.Unmarshal(r.body, &rot)
	if rot.New.Name != "ci" || rot.New.CIDRs[0] != "127.0.0.0/8" || rot.New.Namespaces[0] != "@acme" || *rot.New.RotatedFrom != old.ID || *rot.Old.RotatedTo != rot.New.ID {
		t.Fatalf("rotation did not copy or link: %s", r.body)
	}
	// a retry with the same Idempotency-Key returns the same answer
	r2 := e.do("POST", "/v1/keys/"+old.ID+"/rotate", e.token, map[string]any{"grace_seconds": 3600}, "Idempotency-Key", "rot-1")
	if r2.status != 200 || !bytes.Equal(r.body, r2.body) {
		t.Fatalf("retry differs: %s vs %s", r.body, r2.body)
	}
	// the remembered answer rests encrypted: the database holds no token
	var stored []byte
	e.st.DB().QueryRow(`SELECT body FROM idempotency`).Scan(&stored)
	if len(stored) == 0 || bytes.Contains(stored, []byte(rot.New.Token)) || bytes.Contains(stored, []byte("csy_")) {
		t.Fatal("the idempotency table holds the token in plain text")
	}
	var keyCol string
	e.st.DB().QueryRow(`SELECT key FROM idempotency`).Scan(&keyCol)
	if keyCol == "rot-1" {
		t.Fatal("the Idempotency-Key is stored as is")
	}
	// both work during the grace period
	expect(t, e.do("GET", "/v1/keys", old.Token, nil), 200, "")
	expect(t, e.do("GET", "/v1/keys", rot.New.Token, nil), 200, "")
	e.clock.Add(61 * time.Minute)
	expect(t, e.do("GET", "/v1/keys", old.Token, nil), 401, "invalid_token")
	expect(t, e.do("GET", "/v1/keys", rot.New.Token, nil), 200, "")
	// grace 0 revokes at once
	r = e.do("POST", "/v1/keys/"+rot.New.ID+"/rotate", e.token, map[string]any{"grace_seconds": 0})
	expect(t, r, 200, "")
	expect(t, e.do("GET", "/v1/keys", rot.New.Token, nil), 401, "invalid_token")
}

func TestDoubleRevoke(t *testing.T) {
	e := start(t, server.Config{})
	k, _ := e.create(e.token, model.CreateKeyRequest{Name: "x", Scopes: []string{"keys:read"}})
	r := e.do("DELETE", "/v1/keys/"+k.ID, e.token, nil)
	expect(t, r, 200, "")
	var got model.Key
	json.Unmarshal(r.body, &got)
	if got.Status != "revoked" || got.RevokedAt == nil {
		t.Fatalf("%s", r.body)
	}
	expect(t, e.do("DELETE", "/v1/keys/"+k.ID, e.token, nil), 409, "already_revoked")
}

func TestPagination(t *testing.T) {
	e := start(t, server.Config{})
	for i := 0; i < 11; i++ {
		e.create(e.token, model.CreateKeyRequest{Name: fmt.Sprint("k", i), Scopes: []string{"keys:read"}})
	}
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		r := e.do("GET", "/v1/keys?limit=5&cursor="+cursor, e.token, nil)
		expect(t, r, 200, "")
		var l model.KeyList
		json.Unmarshal(r.body, &l)
		for _, k := range l.Keys {
			if seen[k.ID] {
				t.Fatalf("duplicate %s", k.ID)
			}
			seen[k.ID] = true
		}
		pages++
		if l.NextCursor == nil {
			break
		}
		cursor = *l.NextCursor
	}
	if len(seen) != 12 || pages != 3 {
		t.Fatalf("saw %d keys in %d pages", len(seen), pages)
	}
	expect(t, e.do("GET", "/v1/keys?cursor=!!", e.token, nil), 400, "invalid_request")
}

func TestExportFormats(t *testing.T) {
	e := start(t, server.Config{})
	k, _ := e.create(e.token, model.CreateKeyRequest{Name: "a,b \"quoted\"", Scopes: []string{"keys:read"}})
	e.do("DELETE", "/v1/keys/"+k.ID, e.token, nil)

	r := e.do("GET", "/v1/keys/export?format=json&include_events=true", e.token, nil)
	expect(t, r, 200, "")
	var doc struct {
		SchemaVersion int                 `json:"schema_version"`
		User          string              `json:"user"`
		Server        string              `json:"server"`
		Summary       model.ExportSummary `json:"summary"`
		Keys          []map[string]any    `json:"keys"`
		Events        []model.Event       `json:"events"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if doc.SchemaVersion != 1 || doc.User != "dev" || doc.Server != e.ts.URL || len(doc.Keys) != 2 || doc.Summary.Revoked != 1 || doc.Summary.Active != 1 || len(doc.Events) < 3 {
		t.Fatalf("%s", r.body)
	}
	if bytes.Contains(r.body, []byte(`"token"`)) || bytes.Contains(r.body, []byte(k.Token)) {
		t.Fatal("export holds a secret")
	}

	r = e.do("GET", "/v1/keys/export?format=ndjson", e.token, nil)
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%s", r.body)
	}
	for _, l := range lines {
		var m model.Key
		if json.Unmarshal([]byte(l), &m) != nil || m.ID == "" {
			t.Fatal(l)
		}
	}

	r = e.do("GET", "/v1/keys/export?format=csv", e.token, nil)
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][0] != "id" || len(recs[1]) != len(model.CSVHeader) {
		t.Fatalf("%v %q", err, recs)
	}
	// --since keeps keys changed since then
	r = e.do("GET", "/v1/keys/export?format=ndjson&since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), e.token, nil)
	if len(bytes.TrimSpace(r.body)) != 0 {
		t.Fatalf("since in the future should select nothing: %s", r.body)
	}
	expect(t, e.do("GET", "/v1/keys/export?format=xml", e.token, nil), 400, "invalid_request")
}

func TestRateLimit429(t *testing.T) {
	e := start(t, server.Config{DevRate: 1, Now: time.Now})
	var last resp
	for i := 0; i < 5; i++ {
		last = e.do("GET", "/v1/keys", e.token, nil)
	}
	expect(t, last, 429, "rate_limited")
	if last.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// another credential is not affected
	e2 := start(t, server.Config{DevRate: 1, Now: time.Now})
	expect(t, e2.do("GET", "/v1/keys", e2.token, nil), 200, "")
}

func TestUsersAreIsolated(t *testing.T) {
	e := start(t, server.Config{})
	ctx := context.Background()
	bob, _ := e.st.CreateUser(ctx, "bob", server.HashPassword("password1"), time.Now())
	// a key for bob, made directly in the store
	bobTok := token.New("dev")
	now := e.clock.Now().Truncate(time.Second)
	bobKey := &store.KeyRecord{ID: "key_bob1", UserID: bob.ID, Name: "bob", Prefix: token.Prefix(bobTok), TokenHash: token.Hash(bobTok),
		Environment: "sandbox", Scopes: allScopes, CIDRs: []string{}, Namespaces: []string{}, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := e.st.CreateKey(ctx, bobKey, 12, &store.Event{UserID: &bob.ID, Type: "token:created", Time: now, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	// dev cannot read, rotate, revoke or export bob's key: 404, not 403
	expect(t, e.do("GET", "/v1/keys/key_bob1", e.token, nil), 404, "not_found")
	expect(t, e.do("POST", "/v1/keys/key_bob1/rotate", e.token, map[string]any{}), 404, "not_found")
	expect(t, e.do("DELETE", "/v1/keys/key_bob1", e.token, nil), 404, "not_found")
	r := e.do("GET", "/v1/keys/export?format=ndjson", e.token, nil)
	if bytes.Contains(r.body, []byte("key_bob1")) {
		t.Fatal("export leaks bob's key")
	}
	r = e.do("GET", "/v1/keys?all=true", e.token, nil)
	if bytes.Contains(r.body, []byte("key_bob1")) {
		t.Fatal("list leaks bob's key")
	}
	expect(t, e.do("GET", "/v1/keys/key_bob1", bobTok, nil), 200, "")
}

func TestRegistryNamespaces(t *testing.T) {
	e := start(t, server.Config{})
	// the first publish into @acme claims the scope: that needs npm:scope:write
	owner := e.mint("dev", model.EnvSandbox, "keys:write", "registry:publish", "registry:read", "npm:scope:write")
	expect(t, e.do("PUT", "/v1/registry/packages/@acme/first", owner, `{"version":"0.1.0"}`), 200, "")
	pub, _ := e.create(e.token, model.CreateKeyRequest{Name: "pub", Scopes: []string{"registry:publish", "registry:read"}, Namespaces: []string{"@acme"}})
	expect(t, e.do("PUT", "/v1/registry/packages/@acme/tool", pub.Token, `{"version":"1.0.0"}`), 200, "")
	expect(t, e.do("PUT", "/v1/registry/packages/@other/tool", pub.Token, `{"version":"1.0.0"}`), 403, "insufficient_scope")
	r := e.do("GET", "/v1/registry/packages/@acme/tool", pub.Token, nil)
	expect(t, r, 200, "")
	if !bytes.Contains(r.body, []byte(`"version":"1.0.0"`)) {
		t.Fatal(string(r.body))
	}
	ro, _ := e.create(e.token, model.CreateKeyRequest{Name: "ro", Scopes: []string{"registry:read"}})
	expect(t, e.do("PUT", "/v1/registry/packages/@acme/tool", ro.Token, `{}`), 403, "insufficient_scope")
}

func TestHealthAndOversizedBody(t *testing.T) {
	e := start(t, server.Config{})
	r := e.do("GET", "/v1/auth/health", "", nil)
	expect(t, r, 200, "")
	var h model.Health
	json.Unmarshal(r.body, &h)
	if h.Status != "ok" {
		t.Fatal(string(r.body))
	}
	big := `{"name":"` + strings.Repeat("x", 100<<10) + `"}`
	expect(t, e.do("POST", "/v1/keys", e.token, big), 413, "request_too_large")
}

func TestTokenUsedAtMostOnceAMinute(t *testing.T) {
	e := start(t, server.Config{})
	for i := 0; i < 5; i++ {
		e.do("GET", "/v1/keys", e.token, nil)
	}
	count := func() int {
		n, _ := e.st.CountEvents(context.Background(), "token:used", time.Time{})
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("token:used written %d times", n)
	}
	e.clock.Add(61 * time.Second)
	e.do("GET", "/v1/keys", e.token, nil)
	if n := count(); n != 2 {
		t.Fatalf("token:used after a minute: %d", n)
	}
}
