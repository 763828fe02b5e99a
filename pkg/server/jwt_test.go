package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

func rsaKey(t *testing.T, bits int) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func register(t *testing.T, e *env, tok, pub string) (resp, string) {
	t.Helper()
	r := e.do("POST", "/v1/jwt/keys", tok, model.RegisterJWTKeyRequest{Name: "svc", PublicKey: pub})
	var k model.JWTKey
	json.Unmarshal(r.body, &k)
	return r, k.ID
}

type claims struct {
	Scope string `json:"scope"`
	jwt.RegisteredClaims
}

func sign(t *testing.T, k *rsa.PrivateKey, kid, iss, aud string, iat, exp time.Time, scope string) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodRS256, claims{Scope: scope, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: iss, Subject: iss, Audience: jwt.ClaimStrings{aud}, IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp), ID: token.RandomString(12)}})
	tk.Header["kid"] = kid
	s, err := tk.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTBearer(t *testing.T) {
	e := start(t, server.Config{})
	priv, pub := rsaKey(t, 2048)
	r, kid := register(t, e, e.token, pub)
	expect(t, r, 201, "")
	now := e.clock.Now()
	aud := e.ts.URL

	good := sign(t, priv, kid, "dev", aud, now, now.Add(15*time.Minute), "keys:read")
	r = e.do("GET", "/v1/auth/whoami", good, nil)
	var who model.WhoAmI
	json.Unmarshal(r.body, &who)
	if r.status != 200 || who.Credential.Type != "jwt" || who.User.Name != "dev" {
		t.Fatalf("good JWT: %d %s", r.status, r.body)
	}
	expect(t, e.do("GET", "/v1/keys", good, nil), 200, "")
	// scopes are the token's: keys:write was not claimed
	expect(t, e.do("POST", "/v1/keys", good, model.CreateKeyRequest{Name: "x", Scopes: []string{"keys:read"}}), 403, "insufficient_scope")

	// another user with their own key
	bob, _ := e.st.CreateUser(context.Background(), "bob", server.HashPassword("password1"), now)
	bobTok := token.New("dev")
	bk := &store.KeyRecord{ID: "key_bob", UserID: bob.ID, Name: "b", Prefix: token.Prefix(bobTok), TokenHash: token.Hash(bobTok), Environment: "sandbox",
		Scopes: []string{"keys:write", "keys:read"}, CIDRs: []string{}, Namespaces: []string{}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	e.st.CreateKey(context.Background(), bk, 12, &store.Event{UserID: &bob.ID, Type: "token:created", Time: now, Actor: "bob"})
	bobPriv, bobPub := rsaKey(t, 2048)
	_, bobKid := register(t, e, bobTok, bobPub)

	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims{Scope: "keys:read", RegisteredClaims: jwt.RegisteredClaims{Issuer: "dev", Audience: jwt.ClaimStrings{aud}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}})
	none.Header["kid"] = kid
	noneStr, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Scope: "keys:read", RegisteredClaims: jwt.RegisteredClaims{Issuer: "dev", Audience: jwt.ClaimStrings{aud}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}})
	hs.Header["kid"] = kid
	hsStr, _ := hs.SignedString([]byte(pub)) // key confusion: the public key's bytes as HMAC secret

	refused := map[string]string{
		"expired":               sign(t, priv, kid, "dev", aud, now.Add(-2*time.Hour), now.Add(-time.Hour), "keys:read"),
		"wrong aud":             sign(t, priv, kid, "dev", "https://other.example", now, now.Add(time.Minute), "keys:read"),
		"alg none":              noneStr,
		"HS256 key confusion":   hsStr,
		"kid of another user":   sign(t, bobPriv, bobKid, "dev", aud, now, now.Add(time.Minute), "keys:read"),
		"iss not the kid's":     sign(t, priv, kid, "bob", aud, now, now.Add(time.Minute), "keys:read"),
		"TTL over 24 h":         sign(t, priv, kid, "dev", aud, now, now.Add(25*time.Hour), "keys:read"),
		"unknown scope":         sign(t, priv, kid, "dev", aud, now, now.Add(time.Minute), "root"),
		"signed by another key": sign(t, bobPriv, kid, "dev", aud, now, now.Add(time.Minute), "keys:read"),
	}
	for name, tok := range refused {
		if r := e.do("GET", "/v1/auth/whoami", tok, nil); r.status != 401 || r.errCode() != "invalid_token" {
			t.Errorf("%s: want 401 invalid_token, got %d %s", name, r.status, r.body)
		}
	}

	// weak or non-RSA keys are refused at registration
	_, weak := rsaKey(t, 1024)
	expect(t, e.do("POST", "/v1/jwt/keys", e.token, model.RegisterJWTKeyRequest{PublicKey: weak}), 400, "invalid_request")
	expect(t, e.do("POST", "/v1/jwt/keys", e.token, model.RegisterJWTKeyRequest{PublicKey: "garbage"}), 400, "invalid_request")
	// list, and delete: the deleted key's tokens stop working
	r = e.do("GET", "/v1/jwt/keys", e.token, nil)
	var l model.JWTKeyList
	json.Unmarshal(r.body, &l)
	if len(l.Keys) != 1 || l.Keys[0].ID != kid || l.Keys[0].Bits != 2048 {
		t.Fatalf("list: %s", r.body)
	}
	expect(t, e.do("DELETE", "/v1/jwt/keys/"+bobKid, e.token, nil), 404, "not_found")
	if r := e.do("DELETE", "/v1/jwt/keys/"+kid, e.token, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	expect(t, e.do("GET", "/v1/auth/whoami", good, nil), 401, "invalid_token")
}

// TestJWTChainEndsWithItsRoot: revoking the API key at the bottom of a chain
// of JWT keys (each registered with a JWT of the one before, deeper than any
// fixed depth a check could follow) ends every JWT of the chain. A JWT may not
// register a JWT key at all, so the chain is one key long and its root is
// checked directly.
func TestJWTChainEndsWithItsRoot(t *testing.T) {
	e := start(t, server.Config{})
	root, r := e.create(e.token, model.CreateKeyRequest{Name: "root", Scopes: []string{"keys:read", "keys:write"}})
	expect(t, r, 201, "")
	now := e.clock.Now()
	priv, pub := rsaKey(t, 2048)
	r, kid := register(t, e, root.Token, pub)
	expect(t, r, 201, "")
	var jwts []string
	for depth := 0; depth < 7; depth++ {
		tok := sign(t, priv, kid, "dev", e.ts.URL, now, now.Add(time.Hour), "keys:read keys:write")
		jwts = append(jwts, tok)
		nextPriv, next := rsaKey(t, 2048)
		r, id := register(t, e, tok, next)
		if depth == 0 && r.status != 403 {
			t.Errorf("a JWT registered a JWT key: %d %s", r.status, r.body)
		}
		if r.status != 201 {
			break
		}
		priv, kid = nextPriv, id
	}
	for _, tok := range jwts {
		expect(t, e.do("GET", "/v1/auth/whoami", tok, nil), 200, "")
	}
	expect(t, e.do("DELETE", "/v1/keys/"+root.ID, e.token, nil), 200, "")
	for i, tok := range jwts {
		if r := e.do("GET", "/v1/auth/whoami", tok, nil); r.status != 401 {
			t.Errorf("JWT %d of the chain outlived its root API key: %d %s", i, r.status, r.body)
		}
	}
}
