package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// End-to-end proofs of issue 12 ("least privilege everywhere"): the real CLI
// (this test binary re-executed as codesync-cli) against a real server on
// loopback over a real SQLite file. Each test is one finding.

// mintKey gives user a key directly in the store: the fixture of a
// credential the test needs but that no API call may hand out.
func mintKey(t *testing.T, ts *testServer, user string, env string, scopes ...string) string {
	t.Helper()
	ctx := context.Background()
	u, err := ts.Store.UserByName(ctx, user)
	if err != nil {
		if u, err = ts.Store.CreateUser(ctx, user, server.HashPassword(token.RandomString(20)), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	tokEnv := "prod"
	if env == model.EnvSandbox {
		tokEnv = "dev"
	}
	tok := token.New(tokEnv)
	now := time.Now().UTC().Truncate(time.Second)
	k := &store.KeyRecord{ID: "key_" + token.RandomString(16), UserID: u.ID, Name: "fixture", Prefix: token.Prefix(tok), TokenHash: token.Hash(tok),
		Environment: env, Scopes: scopes, CIDRs: []string{}, Namespaces: []string{}, CreatedAt: now, ExpiresAt: now.Add(keyrules.DefExpiry)}
	if err := ts.Store.CreateKey(ctx, k, 100, &store.Event{UserID: &u.ID, Type: model.EventTokenCreated, Time: now, Actor: user, Detail: "fixture"}); err != nil {
		t.Fatal(err)
	}
	return tok
}

// call makes one API request and returns the status, the error code and body.
func call(t *testing.T, method, url, tok, body string, hdr ...string) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var e model.Error
	_ = json.Unmarshal(b, &e)
	return res.StatusCode, e.Error, b
}

func cliEnv(ts *testServer, tok string) []string {
	return []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_AUTH_TOKEN=" + tok, "CODESYNC_CONFIG_DIR=" + os.TempDir() + "/nonexistent-" + token.RandomString(6), "NO_COLOR=1"}
}

// mustCLI runs the CLI and wants exit code want.
func mustCLI(t *testing.T, env []string, want int, args ...string) (string, string) {
	t.Helper()
	out, errOut, code := runCLI(t, env, "", args...)
	if code != want {
		t.Fatalf("codesync-cli %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

func createKeyJSON(t *testing.T, env []string, args ...string) model.KeyWithToken {
	t.Helper()
	out, _ := mustCLI(t, env, 0, append([]string{"key", "create"}, append(args, "-o", "json")...)...)
	var k model.KeyWithToken
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return k
}

func writeRSA(t *testing.T, dir string) (priv, pub string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub = filepath.Join(dir, "svc.pem"), filepath.Join(dir, "svc.pub")
	pb, _ := x509.MarshalPKCS8PrivateKey(k)
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pb}), 0o600)
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)}), 0o600)
	return priv, pub
}

// Finding 1: a JWT reaches no more than the key that registered its signing key.
func TestE2EJWTCannotEscalate(t *testing.T) {
	ts := startServer(t, server.Config{})
	dev := cliEnv(ts, ts.Token)
	lim := createKeyJSON(t, dev, "limited", "--scopes", "keys:read,keys:write", "--namespace", "@acme-corp/internal", "--cidr", "127.0.0.1/32", "--expires", "2h")
	env := cliEnv(ts, lim.Token)
	dir := t.TempDir()
	priv, pub := writeRSA(t, dir)
	out, _ := mustCLI(t, env, 0, "jwt", "register-key", "--public-key", pub, "--name", "svc")
	kid := strings.TrimSpace(out)
	jwtOut, _ := mustCLI(t, env, 0, "jwt", "sign", "--private-key", priv, "--key-id", kid, "--scopes", "registry:publish,npm:scope:write,audit:read,keys:read,keys:write", "--ttl", "1h")
	jwtEnv := cliEnv(ts, strings.TrimSpace(jwtOut))

	out, _ = mustCLI(t, jwtEnv, 0, "auth", "status", "-o", "json")
	var st struct {
		Scopes    []string  `json:"scopes"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	_ = json.Unmarshal([]byte(out), &st)
	if strings.Join(st.Scopes, " ") != "keys:read keys:write" {
		t.Errorf("JWT scopes %v: want only keys:read keys:write (its claims ∩ the registering key's scopes)", st.Scopes)
	}
	// it cannot publish, and cannot create a registry:publish key
	status, code, _ := call(t, "PUT", ts.URL+"/v1/registry/packages/@acme-corp/internal", strings.TrimSpace(jwtOut), `{"version":"1.0.0"}`)
	if status != 403 || code != "insufficient_scope" {
		t.Errorf("JWT publish: %d %s, want 403 insufficient_scope", status, code)
	}
	_, errOut := mustCLI(t, jwtEnv, 5, "key", "create", "x", "--scopes", "registry:publish", "--expires", "1h")
	if !strings.Contains(errOut, "registry:publish") {
		t.Errorf("refusal does not name the scope: %s", errOut)
	}
	// it inherits the registering key's sandbox environment
	status, _, body := call(t, "GET", ts.URL+"/v1/auth/whoami", strings.TrimSpace(jwtOut), "")
	var who model.WhoAmI
	_ = json.Unmarshal(body, &who)
	if status != 200 || who.Credential.Environment != model.EnvSandbox {
		t.Errorf("whoami %d %s: want environment sandbox", status, body)
	}
	// JWT keys per user are capped
	for i := 1; i < server.MaxJWTKeys; i++ {
		mustCLI(t, env, 0, "jwt", "register-key", "--public-key", pub, "--name", fmt.Sprintf("k%d", i))
	}
	_, errOut = mustCLI(t, env, 8, "jwt", "register-key", "--public-key", pub, "--name", "one-too-many")
	if !strings.Contains(errOut, fmt.Sprint(server.MaxJWTKeys)) {
		t.Errorf("limit not named: %s", errOut)
	}
	// revoking the key that registered the JWT key ends its JWTs
	mustCLI(t, dev, 0, "key", "revoke", lim.ID, "--yes")
	_, errOut = mustCLI(t, jwtEnv, 4, "key", "list")
	if !strings.Contains(errOut, "revoked") {
		t.Errorf("JWT of a revoked registrar: %s", errOut)
	}
}

// Finding 2: created and rotated keys stay inside their creator's limits.
func TestE2ENewKeysInheritTheCreatorsLimits(t *testing.T) {
	ts := startServer(t, server.Config{})
	dev := cliEnv(ts, ts.Token)
	lim := createKeyJSON(t, dev, "limited", "--scopes", "keys:read,keys:write,registry:publish", "--namespace", "@acme-corp/internal", "--cidr", "127.0.0.1/32", "--expires", "1h")
	env := cliEnv(ts, lim.Token)

	// nothing asked: everything inherited, the expiry cut to the creator's
	child := createKeyJSON(t, env, "child", "--scopes", "registry:publish")
	if strings.Join(child.Namespaces, ",") != "@acme-corp/internal" || strings.Join(child.CIDRs, ",") != "127.0.0.1/32" ||
		child.ExpiresAt.After(lim.ExpiresAt) || child.Environment != model.EnvSandbox {
		t.Errorf("child key %+v: want the creator's namespaces, CIDRs, sandbox and expiry ≤ %s", child.Key, lim.ExpiresAt)
	}
	status, code, _ := call(t, "PUT", ts.URL+"/v1/registry/packages/@other/pkg", child.Token, `{"version":"1.0.0"}`)
	if status != 403 || code != "insufficient_scope" {
		t.Errorf("child published @other/pkg: %d %s", status, code)
	}
	// asking for more is refused, exit 5, the message names the limit
	for _, tc := range []struct {
		args  []string
		limit string
	}{
		{[]string{"--namespace", "@other"}, "namespace"},
		{[]string{"--cidr", "0.0.0.0/0"}, "network"},
		{[]string{"--expires", "365d"}, "outlive"},
		{[]string{"--env", "prod"}, "sandbox"},
	} {
		_, errOut := mustCLI(t, env, 5, append([]string{"key", "create", "more", "--scopes", "keys:read"}, tc.args...)...)
		if !strings.Contains(errOut, tc.limit) || !strings.Contains(errOut, "insufficient_scope") {
			t.Errorf("%v: refusal does not name %q: %s", tc.args, tc.limit, errOut)
		}
	}
	// rotate: a key without namespaces cannot be rotated by a namespaced key
	wide := createKeyJSON(t, dev, "wide", "--scopes", "keys:read")
	_, errOut := mustCLI(t, env, 5, "key", "rotate", wide.ID)
	if !strings.Contains(errOut, "namespace") {
		t.Errorf("rotate refusal does not name the limit: %s", errOut)
	}
	// a rotation by a short-lived key ends no later than that key
	narrow := createKeyJSON(t, env, "narrow", "--scopes", "keys:read")
	out, _ := mustCLI(t, env, 0, "key", "rotate", narrow.ID, "-o", "json")
	var rot model.RotateKeyResponse
	_ = json.Unmarshal([]byte(out), &rot)
	if rot.New.ExpiresAt.After(lim.ExpiresAt) {
		t.Errorf("rotated key expires %s, after its rotator %s", rot.New.ExpiresAt, lim.ExpiresAt)
	}
	// a csy_dev_ key cannot make a csy_prod_ key
	_, errOut = mustCLI(t, dev, 5, "key", "create", "prod", "--scopes", "keys:read", "--env", "prod")
	if !strings.Contains(errOut, "sandbox") {
		t.Errorf("env refusal: %s", errOut)
	}
}

// Finding 3: a stored rotation answer is for its first requester only.
func TestE2EReplayedRotationIsAuthorized(t *testing.T) {
	ts := startServer(t, server.Config{})
	dev := cliEnv(ts, ts.Token)
	pub := createKeyJSON(t, dev, "publisher", "--scopes", "registry:publish")
	weak := createKeyJSON(t, dev, "weak", "--scopes", "keys:read,keys:write")
	idem := "idem-" + token.RandomString(20)
	status, _, body := call(t, "POST", ts.URL+"/v1/keys/"+pub.ID+"/rotate", ts.Token, `{}`, "Idempotency-Key", idem)
	if status != 200 {
		t.Fatalf("rotate: %d %s", status, body)
	}
	var first model.RotateKeyResponse
	_ = json.Unmarshal(body, &first)
	status, code, body := call(t, "POST", ts.URL+"/v1/keys/"+pub.ID+"/rotate", weak.Token, `{}`, "Idempotency-Key", idem)
	if status != 403 || code != "insufficient_scope" || bytes.Contains(body, []byte(first.New.Token)) {
		t.Fatalf("a weaker key replayed the rotation: %d %s", status, body)
	}
	// another credential with enough scopes is not the first requester either
	other := mintKey(t, ts, "dev", model.EnvSandbox, "keys:read", "keys:write", "registry:publish")
	status, _, body = call(t, "POST", ts.URL+"/v1/keys/"+pub.ID+"/rotate", other, `{}`, "Idempotency-Key", idem)
	if status == 200 || bytes.Contains(body, []byte(first.New.Token)) {
		t.Fatalf("another credential replayed the rotation: %d %s", status, body)
	}
	// the first requester gets the answer again, with the key's current status
	mustCLI(t, dev, 0, "key", "revoke", first.New.ID, "--yes")
	status, _, body = call(t, "POST", ts.URL+"/v1/keys/"+pub.ID+"/rotate", ts.Token, `{}`, "Idempotency-Key", idem)
	var again model.RotateKeyResponse
	_ = json.Unmarshal(body, &again)
	if status != 200 || again.New.Token != first.New.Token || again.New.Status != model.StatusRevoked {
		t.Fatalf("replay: %d, status %q (want revoked)", status, again.New.Status)
	}
	// --debug never shows the Idempotency-Key
	target := createKeyJSON(t, dev, "target", "--scopes", "keys:read")
	_, errOut := mustCLI(t, dev, 0, "key", "rotate", target.ID, "--debug")
	if !strings.Contains(errOut, "Idempotency-Key: [REDACTED]") {
		t.Fatalf("Idempotency-Key not redacted in --debug:\n%s", errOut)
	}
}

// Finding 4: rotation chains cannot pile up usable keys.
func TestE2ERotationChainsCannotPileUpKeys(t *testing.T) {
	ts := startServer(t, server.Config{})
	dev := cliEnv(ts, ts.Token)
	k := createKeyJSON(t, dev, "chain", "--scopes", "keys:read")
	id := k.ID
	for range 10 {
		out, _ := mustCLI(t, dev, 0, "key", "rotate", id, "--grace", "720h", "-o", "json")
		var rot model.RotateKeyResponse
		_ = json.Unmarshal([]byte(out), &rot)
		id = rot.New.ID
	}
	out, _ := mustCLI(t, dev, 0, "key", "list", "-o", "json")
	var keys []model.Key
	_ = json.Unmarshal([]byte(out), &keys)
	chain := 0
	for _, k := range keys {
		if k.Name == "chain" {
			chain++
		}
	}
	if chain != 2 {
		t.Fatalf("%d usable keys of one rotation chain, want 2 (the newest and one predecessor in grace)", chain)
	}
	out, _ = mustCLI(t, dev, 0, "audit", "events", "--type", "token:revoked", "-o", "json")
	if !strings.Contains(out, "grace ended") {
		t.Fatalf("the ended grace is not recorded: %s", out)
	}
}

// Finding 5: an npm scope belongs to whoever claimed it.
func TestE2ENpmScopesHaveOwners(t *testing.T) {
	ts := startServer(t, server.Config{})
	owner := mintKey(t, ts, "dev", model.EnvSandbox, "registry:publish", "npm:scope:write")
	status, code, body := call(t, "PUT", ts.URL+"/v1/registry/packages/@acme-corp/internal", owner, `{"version":"1.0.0"}`)
	if status != 200 {
		t.Fatalf("owner's first publish (claims @acme-corp): %d %s %s", status, code, body)
	}
	intruder := mintKey(t, ts, "mallory", model.EnvSandbox, "registry:publish", "npm:scope:write")
	status, code, _ = call(t, "PUT", ts.URL+"/v1/registry/packages/@acme-corp/internal-utils", intruder, `{"version":"1.0.0"}`)
	if status != 403 || code != "insufficient_scope" {
		t.Fatalf("another user published into @acme-corp: %d %s", status, code)
	}
	// claiming a new scope needs npm:scope:write
	publisher := mintKey(t, ts, "mallory", model.EnvSandbox, "registry:publish")
	status, code, body = call(t, "PUT", ts.URL+"/v1/registry/packages/@fresh/pkg", publisher, `{"version":"1.0.0"}`)
	if status != 403 || code != "insufficient_scope" || !bytes.Contains(body, []byte("npm:scope:write")) {
		t.Fatalf("claimed @fresh without npm:scope:write: %d %s", status, body)
	}
	status, _, body = call(t, "PUT", ts.URL+"/v1/registry/packages/@fresh/pkg", intruder, `{"version":"1.0.0"}`)
	if status != 200 {
		t.Fatalf("claim with npm:scope:write: %d %s", status, body)
	}
	// and once claimed, registry:publish is enough for its owner
	status, _, body = call(t, "PUT", ts.URL+"/v1/registry/packages/@fresh/other", publisher, `{"version":"1.0.0"}`)
	if status != 200 {
		t.Fatalf("owner's publish into a claimed scope: %d %s", status, body)
	}
}

// Finding 9: a key name that is a spreadsheet formula is written as text.
func TestE2ECSVFormulaInjection(t *testing.T) {
	ts := startServer(t, server.Config{})
	dev := cliEnv(ts, ts.Token)
	createKeyJSON(t, dev, `=HYPERLINK("http://evil.example","click")`, "--scopes", "keys:read")
	createKeyJSON(t, dev, "@SUM(1+1)", "--scopes", "keys:read")
	out, _ := mustCLI(t, dev, 0, "key", "audit-export", "--format", "csv")
	for _, line := range strings.Split(out, "\n") {
		for _, cell := range strings.Split(line, ",") {
			cell = strings.TrimPrefix(cell, `"`)
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("formula cell %q in CSV:\n%s", cell, out)
			}
		}
	}
	if !strings.Contains(out, `'=HYPERLINK`) || !strings.Contains(out, `'@SUM(1+1)`) {
		t.Fatalf("names not kept as text:\n%s", out)
	}
}

// Finding 11: request bodies are decoded strictly.
func TestE2EStrictRequestBodies(t *testing.T) {
	ts := startServer(t, server.Config{})
	for _, body := range []string{
		`{"name":"a","scopes":["keys:read"],"Scopes":["audit:read"]}`, // case-insensitive twin
		`{"name":"a","SCOPES":["keys:read"]}`,
		`{"name":"a","scopes":["keys:read"],"scopes":["audit:read"]}`, // duplicate
		`{"name":"a","scopes":["keys:read"],"expires_in":36028797018967568}`,
		`{"name":"a","scopes":["keys:read"],"expires_in":-3600}`,
		`{"name":"a","scopes":["keys:read"],"expires_in":1e3}`,
		"{\"name\":\"a\xff\",\"scopes\":[\"keys:read\"]}",
		`{"name":"a\udc00","scopes":["keys:read"]}`,
		`{"name":"a","scopes":["keys:read"],"unknown":1}`,
	} {
		status, code, resp := call(t, "POST", ts.URL+"/v1/keys", ts.Token, body)
		if status != 400 || code != "invalid_request" {
			t.Errorf("%q: %d %s, want 400 invalid_request", body, status, resp)
		}
	}
	k := mintKey(t, ts, "dev", model.EnvSandbox, "keys:read", "keys:write")
	status, _, body := call(t, "POST", ts.URL+"/v1/keys", k, `{"name":"ok","scopes":["keys:read"]}`)
	var created model.KeyWithToken
	_ = json.Unmarshal(body, &created)
	if status != 201 {
		t.Fatalf("a valid body: %d %s", status, body)
	}
	for _, b := range []string{`{"grace_seconds":36028797018967568}`, `{"Grace_Seconds":0}`, `{"expires_in":9223372036854775807}`} {
		status, code, resp := call(t, "POST", ts.URL+"/v1/keys/"+created.ID+"/rotate", ts.Token, b)
		if status != 400 || code != "invalid_request" {
			t.Errorf("rotate %s: %d %s, want 400", b, status, resp)
		}
	}
}

// Finding 11: the banner says "dev" only in --dev mode.
func TestE2EServerBannerWithoutDev(t *testing.T) {
	dir := t.TempDir()
	cmd := cli(t, nil, "server", "--db", filepath.Join(dir, "db.sqlite"), "--addr", "127.0.0.1:0")
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "listening") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	banner := errb.String()
	if !strings.Contains(banner, "listening") {
		t.Fatalf("no banner: %q", banner)
	}
	if regexp.MustCompile(`(?i)\bdev\b`).MatchString(banner) {
		t.Fatalf("the banner of a server without --dev says dev: %q", banner)
	}
}

// Finding 7: anonymous limits count a /24 as one address.
func TestE2EAnonymousLimitCountsByPrefix(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs the whole of 127.0.0.0/8 on loopback (Linux)")
	}
	ts := startServer(t, server.Config{AnonRate: 5})
	ok := 0
	for i := 1; i <= 200; i++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(i))}, Timeout: 5 * time.Second}
		hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
		res, err := hc.Get(ts.URL + "/v1/auth/health")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == 200 {
			ok++
		}
	}
	// burst 10 plus what 5/s refills while the loop runs
	if ok > 60 {
		t.Fatalf("%d of 200 requests from one /24 passed an anonymous limit of 5/s", ok)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
