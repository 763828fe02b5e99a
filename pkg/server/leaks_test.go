package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

const scanKeyID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign is what GitHub does: ECDSA P-256 over SHA-256 of the raw body,
// ASN.1 DER, base64.
func signReport(t *testing.T, k *ecdsa.PrivateKey, body []byte) string {
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func (e *env) report(body []byte, keyID, sig string) resp {
	e.t.Helper()
	return e.do("POST", "/v1/secret-scanning/report", "", string(body), server.HeaderScanningKeyID, keyID, server.HeaderScanningSignature, sig)
}

func (e *env) health() model.Health {
	e.t.Helper()
	var h model.Health
	r := e.do("GET", "/v1/auth/health", "", nil)
	if err := json.Unmarshal(r.body, &h); err != nil {
		e.t.Fatal(err)
	}
	return h
}

func (e *env) events(typ string) []model.Event {
	e.t.Helper()
	var l model.EventList
	r := e.do("GET", "/v1/audit/events?type="+typ, e.token, nil)
	if err := json.Unmarshal(r.body, &l); err != nil {
		e.t.Fatalf("%v: %s", err, r.body)
	}
	return l.Events
}

func hashHex(tok string) string { return hex.EncodeToString(token.Hash(tok)) }

func TestSecretScanningReportRevokesAtOnce(t *testing.T) {
	gh := ecKey(t)
	e := start(t, server.Config{SecretScanningKeys: server.ScanningKeys{scanKeyID: &gh.PublicKey}})
	k, _ := e.create(e.token, model.CreateKeyRequest{Name: "ci", Scopes: []string{"registry:read"}})
	// the key works, and is now in the credential cache
	expect(t, e.do("GET", "/v1/auth/whoami", k.Token, nil), 200, "")

	good := token.New("dev")
	badSum := good[:len(good)-1] + map[bool]string{true: "1", false: "0"}[good[len(good)-1] == '0']
	unknown := token.New("dev")
	url := "https://github.com/acme/app/blob/4f0f96c/deploy/.env"
	body, _ := json.Marshal([]model.SecretScanningReport{
		{Token: k.Token, Type: "codesync_api_key", URL: url, Source: "content"},
		{Token: badSum, Type: "codesync_api_key", URL: "https://github.com/x/y", Source: "commit"},
		{Token: unknown, Type: "codesync_api_key", URL: "https://github.com/x/z", Source: "content"},
	})
	r := e.report(body, scanKeyID, signReport(t, gh, body))
	expect(t, r, 200, "")
	var labels []model.SecretScanningLabel
	if err := json.Unmarshal(r.body, &labels); err != nil {
		t.Fatal(err)
	}
	want := []model.SecretScanningLabel{
		{TokenHash: hashHex(k.Token), TokenType: "codesync_api_key", Label: "true_positive"},
		{TokenHash: hashHex(badSum), TokenType: "codesync_api_key", Label: "false_positive"},
		{TokenHash: hashHex(unknown), TokenType: "codesync_api_key", Label: "false_positive"},
	}
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Fatalf("labels:\n got %v\nwant %v", labels, want)
	}
	if strings.Contains(string(r.body), k.Token) {
		t.Fatal("the answer echoes the token")
	}
	// revoked at once: the cached credential no longer works
	expect(t, e.do("GET", "/v1/auth/whoami", k.Token, nil), 401, "invalid_token")
	var got model.Key
	json.Unmarshal(e.do("GET", "/v1/keys/"+k.ID, e.token, nil).body, &got)
	if got.Status != model.StatusRevoked {
		t.Fatalf("status %s", got.Status)
	}
	leaked := e.events(model.EventTokenLeaked)
	if len(leaked) != 1 || *leaked[0].KeyID != k.ID || !strings.Contains(leaked[0].Detail, url) || !strings.Contains(leaked[0].Detail, "revoked at once") {
		t.Fatalf("token:leaked events: %+v", leaked)
	}
	revoked := e.events(model.EventTokenRevoked)
	if len(revoked) != 1 || *revoked[0].KeyID != k.ID {
		t.Fatalf("token:revoked events: %+v", revoked)
	}

	// reported again (another URL): recorded, labelled, not revoked twice
	body2, _ := json.Marshal([]model.SecretScanningReport{{Token: k.Token, Type: "codesync_api_key", URL: "https://gist.github.com/x", Source: "gist"}})
	r = e.report(body2, scanKeyID, signReport(t, gh, body2))
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), "true_positive") {
		t.Fatalf("second report: %s", r.body)
	}
	if n := len(e.events(model.EventTokenLeaked)); n != 2 {
		t.Fatalf("%d token:leaked events", n)
	}
	if n := len(e.events(model.EventTokenRevoked)); n != 1 {
		t.Fatalf("%d token:revoked events", n)
	}
	if h := e.health(); h.SecretScanningRefused != 0 {
		t.Fatalf("refused: %d", h.SecretScanningRefused)
	}
}

func TestSecretScanningReportRefused(t *testing.T) {
	gh, other := ecKey(t), ecKey(t)
	e := start(t, server.Config{SecretScanningKeys: server.ScanningKeys{scanKeyID: &gh.PublicKey}})
	k, _ := e.create(e.token, model.CreateKeyRequest{Name: "ci", Scopes: []string{"registry:read"}})
	body, _ := json.Marshal([]model.SecretScanningReport{{Token: k.Token, Type: "codesync_api_key", URL: "https://github.com/a/b", Source: "content"}})
	sig := signReport(t, gh, body)
	tampered := []byte(strings.Replace(string(body), "github.com/a/b", "github.com/a/c", 1))
	cases := []struct {
		name       string
		body       []byte
		keyID, sig string
	}{
		{"tampered body", tampered, scanKeyID, sig},
		{"unknown key identifier", body, "another-key", sig},
		{"signed by another key", body, scanKeyID, signReport(t, other, body)},
		{"no signature", body, scanKeyID, ""},
		{"no identifier", body, "", sig},
		{"signature not base64", body, scanKeyID, "%%%"},
	}
	for i, c := range cases {
		r := e.report(c.body, c.keyID, c.sig)
		if r.status != 403 || r.errCode() != "invalid_signature" {
			t.Fatalf("%s: %d %s", c.name, r.status, r.body)
		}
		if h := e.health(); h.SecretScanningRefused != i+1 {
			t.Fatalf("%s: health counts %d refused reports, want %d", c.name, h.SecretScanningRefused, i+1)
		}
	}
	// nothing was revoked or recorded
	expect(t, e.do("GET", "/v1/auth/whoami", k.Token, nil), 200, "")
	if n := len(e.events(model.EventTokenLeaked)); n != 0 {
		t.Fatalf("%d token:leaked events", n)
	}
	// the count is of the last hour
	e.clock.Add(61 * time.Minute)
	if h := e.health(); h.SecretScanningRefused != 0 {
		t.Fatalf("an hour later: %d", h.SecretScanningRefused)
	}
	// the untampered, signed report still works
	expect(t, e.report(body, scanKeyID, sig), 200, "")
}

func TestSecretScanningNotConfigured(t *testing.T) {
	e := start(t, server.Config{})
	expect(t, e.report([]byte(`[]`), scanKeyID, "AAAA"), 404, "not_found")
}

func TestParseScanningKeys(t *testing.T) {
	k1, k2 := ecKey(t), ecKey(t)
	der1, _ := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	der2, _ := x509.MarshalPKIXPublicKey(&k2.PublicKey)
	pemFile := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Key-Identifier": "gh-1"}, Bytes: der1})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der2}))
	keys, err := server.ParseScanningKeys([]byte(pemFile))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der2)
	if len(keys) != 2 || !keys["gh-1"].Equal(&k1.PublicKey) || !keys[hex.EncodeToString(sum[:])].Equal(&k2.PublicKey) {
		t.Fatalf("keys: %v", keys)
	}
	// GitHub's published JSON
	js, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{
		{"key_identifier": "abc", "key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der1})), "is_current": true}}})
	keys, err = server.ParseScanningKeys(js)
	if err != nil || !keys["abc"].Equal(&k1.PublicKey) {
		t.Fatalf("json: %v %v", keys, err)
	}
	// refused: RSA, P-384, nothing, a private key
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	rder, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pder, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	priv, _ := x509.MarshalECPrivateKey(k1)
	for name, data := range map[string][]byte{
		"rsa":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rder}),
		"p384":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}),
		"empty":   nil,
		"private": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: priv}),
		"dup":     []byte(pemFile + pemFile),
	} {
		if _, err := server.ParseScanningKeys(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKeysCheck(t *testing.T) {
	e := start(t, server.Config{})
	ctx := context.Background()
	mine, _ := e.create(e.token, model.CreateKeyRequest{Name: "mine", Scopes: []string{"registry:read"}})
	gone, _ := e.create(e.token, model.CreateKeyRequest{Name: "gone", Scopes: []string{"registry:read"}})
	expect(t, e.do("DELETE", "/v1/keys/"+gone.ID, e.token, nil), 200, "")
	bob, _ := e.st.CreateUser(ctx, "bob", server.HashPassword("password1"), time.Now())
	bobTok := token.New("dev")
	now := e.clock.Now().Truncate(time.Second)
	if err := e.st.CreateKey(ctx, &store.KeyRecord{ID: "key_bob1", UserID: bob.ID, Name: "bob's", Prefix: token.Prefix(bobTok), TokenHash: token.Hash(bobTok),
		Environment: "sandbox", Scopes: allScopes, CIDRs: []string{}, Namespaces: []string{}, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}, 12,
		&store.Event{UserID: &bob.ID, Type: "token:created", Time: now, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	unknown := token.New("dev")
	req := model.KeyCheckRequest{SHA256: []string{hashHex(mine.Token), strings.ToUpper(hashHex(gone.Token)), hashHex(bobTok), hashHex(unknown)}}
	r := e.do("POST", "/v1/keys/check", e.token, req)
	expect(t, r, 200, "")
	var out model.KeyCheckResponse
	json.Unmarshal(r.body, &out)
	str := func(s string) *string { return &s }
	want := []model.KeyCheckResult{
		{SHA256: hashHex(mine.Token), Status: "active", Owned: true, KeyID: str(mine.ID), Name: str("mine")},
		{SHA256: hashHex(gone.Token), Status: "revoked", Owned: true, KeyID: str(gone.ID), Name: str("gone")},
		{SHA256: hashHex(bobTok), Status: "active"}, // not yours: no id, no name
		{SHA256: hashHex(unknown), Status: "unknown"},
	}
	gotJSON, _ := json.Marshal(out.Results)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("check:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	// rate limited: one request a second, burst two (the clock stands still)
	expect(t, e.do("POST", "/v1/keys/check", e.token, req), 200, "")
	r = e.do("POST", "/v1/keys/check", e.token, req)
	expect(t, r, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	e.clock.Add(2 * time.Second)
	// bad input, no credential, too few scopes
	expect(t, e.do("POST", "/v1/keys/check", e.token, model.KeyCheckRequest{SHA256: []string{"abc"}}), 400, "invalid_request")
	e.clock.Add(2 * time.Second)
	expect(t, e.do("POST", "/v1/keys/check", e.token, model.KeyCheckRequest{SHA256: make([]string, 101)}), 400, "invalid_request")
	expect(t, e.do("POST", "/v1/keys/check", e.token, map[string]any{"token": mine.Token}), 400, "invalid_request")
	expect(t, e.do("POST", "/v1/keys/check", "", req), 401, "invalid_token")
	expect(t, e.do("POST", "/v1/keys/check", mine.Token, req), 403, "insufficient_scope")
}

// A leaked key revoked by a report ends its predecessor's rotation grace, as
// any revocation does.
func TestLeakedSuccessorEndsPredecessorGrace(t *testing.T) {
	gh := ecKey(t)
	e := start(t, server.Config{SecretScanningKeys: server.ScanningKeys{scanKeyID: &gh.PublicKey}})
	k, _ := e.create(e.token, model.CreateKeyRequest{Name: "ci", Scopes: []string{"keys:read"}})
	r := e.do("POST", "/v1/keys/"+k.ID+"/rotate", e.token, map[string]any{"grace_seconds": 30 * 24 * 3600})
	expect(t, r, 200, "")
	var rot model.RotateKeyResponse
	_ = json.Unmarshal(r.body, &rot)
	expect(t, e.do("GET", "/v1/keys", k.Token, nil), 200, "") // in grace, and cached
	body, _ := json.Marshal([]model.SecretScanningReport{{Token: rot.New.Token, Type: "codesync_api_key", URL: "https://github.com/x/y", Source: "content"}})
	expect(t, e.report(body, scanKeyID, signReport(t, gh, body)), 200, "")
	expect(t, e.do("GET", "/v1/keys", k.Token, nil), 401, "invalid_token")
}
