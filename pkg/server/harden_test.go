package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// An organization cannot reach a user it added until that user accepts:
// not their keys (export, revoke, policy), not their events, not offboarding.
// After accepting, the organization's log shows their events from then on.
func TestOrgInvitationNeedsConsent(t *testing.T) {
	e := start(t, server.Config{})
	owner := e.user("olivia", orgScopes...)
	mia := e.user("mia", orgScopes...)
	miaKey, r := e.create(mia, model.CreateKeyRequest{Name: "mia-private", Scopes: []string{"registry:read"}})
	e.ok(r, 201)
	e.clock.Add(time.Hour)
	e.ok(e.do("POST", "/v1/orgs", owner, model.CreateOrgRequest{Slug: "acme"}), 201)
	e.ok(e.do("PUT", "/v1/orgs/acme/namespaces/@acme", owner, nil), 201)

	var inv model.Member
	json.Unmarshal(e.ok(e.do("POST", "/v1/orgs/acme/members", owner, model.AddMemberRequest{User: "mia"}), 201), &inv)
	if inv.Status != model.MemberInvited {
		t.Fatalf("add made a member without consent: %+v", inv)
	}
	// pending: listed as invited, and nothing of mia's is reachable
	members := string(e.ok(e.do("GET", "/v1/orgs/acme/members", owner, nil), 200))
	if !strings.Contains(members, `{"user":"mia","role":"member","added_at":"`) || !strings.Contains(members, `"status":"invited"`) {
		t.Errorf("member list: %s", members)
	}
	if export := string(e.ok(e.do("GET", "/v1/keys/export?org=acme", owner, nil), 200)); strings.Contains(export, miaKey.ID) || strings.Contains(export, `"owner":"mia"`) {
		t.Errorf("the organization exported the keys of a user who has not accepted: %s", export)
	}
	if events := string(e.ok(e.do("GET", "/v1/audit/events?org=acme", owner, nil), 200)); strings.Contains(events, miaKey.ID) {
		t.Errorf("the organization read the events of a user who has not accepted: %s", events)
	}
	expect(t, e.do("DELETE", "/v1/orgs/acme/members/mia/keys/"+miaKey.ID, owner, nil), 404, "not_found")
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"max_keys":1}`), 200)
	_, r = e.create(mia, model.CreateKeyRequest{Name: "second", Scopes: []string{"registry:read"}})
	e.ok(r, 201) // the policy does not bind her yet
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"clear":["max_keys"]}`), 200)
	// nobody else answers for her; she sees the invitation
	zed := e.user("zed", orgScopes...)
	expect(t, e.do("POST", "/v1/orgs/acme/members/mia/accept", zed, nil), 404, "not_found")
	expect(t, e.do("POST", "/v1/orgs/acme/members/mia/accept", owner, nil), 404, "not_found")
	if l := string(e.ok(e.do("GET", "/v1/orgs", mia, nil), 200)); !strings.Contains(l, `"slug":"acme"`) || !strings.Contains(l, `"status":"invited"`) {
		t.Errorf("mia's org list: %s", l)
	}
	expect(t, e.do("GET", "/v1/orgs/acme", mia, nil), 404, "not_found")
	// withdrawing an invitation offboards nothing
	e.ok(e.do("DELETE", "/v1/orgs/acme/members/mia", owner, nil), 200)
	if k := keyOf(t, e, mia, miaKey.ID); k.Status != model.StatusActive {
		t.Fatalf("withdrawing the invitation revoked her key: %+v", k)
	}
	expect(t, e.do("POST", "/v1/orgs/acme/members/mia/accept", mia, nil), 404, "not_found")
	// invited again; declined; invited again; accepted
	e.ok(e.do("POST", "/v1/orgs/acme/members", owner, model.AddMemberRequest{User: "mia"}), 201)
	expect(t, e.do("POST", "/v1/orgs/acme/members", owner, model.AddMemberRequest{User: "mia"}), 409, "conflict")
	e.ok(e.do("POST", "/v1/orgs/acme/members/mia/decline", mia, nil), 204)
	e.ok(e.do("POST", "/v1/orgs/acme/members", owner, model.AddMemberRequest{User: "mia"}), 201)
	e.clock.Add(time.Hour)
	var m model.Member
	json.Unmarshal(e.ok(e.do("POST", "/v1/orgs/acme/members/mia/accept", mia, nil), 200), &m)
	if m.Role != model.RoleMember || m.Status != "" {
		t.Fatalf("accepted: %+v", m)
	}
	after, r := e.create(mia, model.CreateKeyRequest{Name: "after", Scopes: []string{"registry:read"}})
	e.ok(r, 201)
	if export := string(e.ok(e.do("GET", "/v1/keys/export?org=acme", owner, nil), 200)); !strings.Contains(export, miaKey.ID) {
		t.Errorf("after accepting, the organization's export lacks her keys: %s", export)
	}
	events := string(e.ok(e.do("GET", "/v1/audit/events?org=acme", owner, nil), 200))
	if strings.Contains(events, miaKey.ID) || strings.Contains(events, "second") {
		t.Errorf("the organization's log shows her events from before she joined: %s", events)
	}
	if !strings.Contains(events, after.ID) {
		t.Errorf("the organization's log lacks her events since joining: %s", events)
	}
}

// A credential limited to namespaces acts on organizations only within them:
// creating an organization or joining one takes a credential without
// namespaces; administering or reading one, namespaces covering its scopes;
// claiming a scope, namespaces allowing it.
func TestOrgActsBoundedByNamespaces(t *testing.T) {
	e := start(t, server.Config{})
	owner := e.user("olivia", orgScopes...)
	e.ok(e.do("POST", "/v1/orgs", owner, model.CreateOrgRequest{Slug: "acme"}), 201)
	e.ok(e.do("PUT", "/v1/orgs/acme/namespaces/@acme", owner, nil), 201)
	e.user("mia", orgScopes...)
	limited := func(ns string) string {
		k, r := e.create(owner, model.CreateKeyRequest{Name: "ns-" + ns, Scopes: orgScopes, Namespaces: []string{ns}})
		e.ok(r, 201)
		return k.Token
	}
	bob := limited("@bob")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/orgs", model.CreateOrgRequest{Slug: "bobs"}},
		{"PUT", "/v1/orgs/acme/namespaces/@acmex", nil},
		{"POST", "/v1/orgs/acme/members", model.AddMemberRequest{User: "mia"}},
		{"GET", "/v1/keys/export?org=acme", nil},
		{"GET", "/v1/audit/events?org=acme", nil},
		{"GET", "/v1/orgs/acme", nil},
		{"PATCH", "/v1/orgs/acme/policy", `{"max_keys":3}`},
		{"DELETE", "/v1/orgs/acme", nil},
	} {
		if r := e.do(c.method, c.path, bob, c.body); r.status != 403 || r.errCode() != "insufficient_scope" || !strings.Contains(string(r.body), "namespaces") {
			t.Errorf("%s %s with a key limited to @bob: want 403 insufficient_scope naming the namespaces, got %d %s", c.method, c.path, r.status, r.body)
		}
	}
	acme := limited("@acme")
	e.ok(e.do("GET", "/v1/orgs/acme", acme, nil), 200)
	e.ok(e.do("GET", "/v1/keys/export?org=acme", acme, nil), 200)
	expect(t, e.do("PUT", "/v1/orgs/acme/namespaces/@acme-labs", acme, nil), 403, "insufficient_scope")
	expect(t, e.do("POST", "/v1/orgs", acme, model.CreateOrgRequest{Slug: "acme2"}), 403, "insufficient_scope")
	e.ok(e.do("POST", "/v1/orgs/acme/members", acme, model.AddMemberRequest{User: "mia"}), 201)
	// joining exposes every key of the account: not with a limited key
	miaLimited, r := e.create(e.tokens["mia"], model.CreateKeyRequest{Name: "mia-ns", Scopes: orgScopes, Namespaces: []string{"@acme"}})
	e.ok(r, 201)
	expect(t, e.do("POST", "/v1/orgs/acme/members/mia/accept", miaLimited.Token, nil), 403, "insufficient_scope")
	e.ok(e.do("POST", "/v1/orgs/acme/members/mia/accept", e.tokens["mia"], nil), 200)
	// an unlimited key still does everything
	e.ok(e.do("PUT", "/v1/orgs/acme/namespaces/@acme-labs", owner, nil), 201)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A token pasted where a key ID belongs never reaches the access log.
func TestAccessLogRedactsTokensInPath(t *testing.T) {
	var log lockedBuffer
	e := start(t, server.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	k, r := e.create(e.token, model.CreateKeyRequest{Name: "pasted", Scopes: []string{"keys:read"}})
	e.ok(r, 201)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/keys/" + k.Token},
		{"DELETE", "/v1/keys/" + k.Token},
		{"POST", "/v1/keys/" + k.Token + "/rotate"},
		{"DELETE", "/v1/orgs/acme/members/dev/keys/" + k.Token},
		{"GET", "/v1/keys/" + e.token},
	} {
		e.do(c.method, c.path, e.token, nil)
	}
	e.ok(e.do("GET", "/v1/keys/"+k.ID, e.token, nil), 200)
	got := log.String()
	for _, secret := range []string{k.Token, e.token, k.Token[12:]} {
		if strings.Contains(got, secret) {
			t.Fatalf("the access log holds a token:\n%s", got)
		}
	}
	if !strings.Contains(got, "/v1/keys/"+k.ID) || !strings.Contains(got, "[REDACTED]") {
		t.Fatalf("the access log lost the paths:\n%s", got)
	}
}

// session gives the user name an OAuth session (as a sign-in would) with
// scopes and returns its access token.
func (e *env) session(name string, scopes ...string) string {
	at, _ := e.sessionPair(name, scopes...)
	return at
}

// sessionPair is session with the refresh token too.
func (e *env) sessionPair(name string, scopes ...string) (at, rt string) {
	e.t.Helper()
	u, err := e.st.UserByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	at, rt = "csa_"+token.RandomString(40), "csr_"+token.RandomString(40)
	ah := sha256.Sum256([]byte(at))
	rh := sha256.Sum256([]byte(rt))
	fam := "fam_" + token.RandomString(8)
	acc := &store.OAuthToken{ID: "tok_" + token.RandomString(16), FamilyID: fam, UserID: u.ID, Kind: "access", Hash: ah[:], Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
	ref := &store.OAuthToken{ID: "tok_" + token.RandomString(16), FamilyID: fam, UserID: u.ID, Kind: "refresh", Hash: rh[:], Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}
	if err := e.st.IssueTokens(context.Background(), acc, ref); err != nil {
		e.t.Fatal(err)
	}
	return at, rt
}

// A JWT key registered from a person's OAuth session is bound by the
// organization's policy like any other: registration and every JWT go
// through the one ceiling rule with the organization's policy.
func TestOrgPolicyBindsJWTKeysFromSessions(t *testing.T) {
	e := start(t, server.Config{})
	owner, _ := orgWithMember(e)
	sess := e.session("mia", orgScopes...)
	priv, pub := rsaKey(t, 2048)
	// registered before the policy: allowed
	r, kid := register(t, e, sess, pub)
	e.ok(r, 201)
	now := e.clock.Now()
	jwtTok := func() string {
		return sign(t, priv, kid, "mia", e.ts.URL, now, now.Add(time.Hour), "registry:read registry:publish keys:read")
	}
	e.ok(e.do("PUT", "/v1/registry/packages/@acme/before", jwtTok(), map[string]string{"version": "1.0.0"}), 200)
	// allowed-scopes without registry:publish: the JWT cannot publish into @acme
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, model.OrgPolicyUpdate{AllowedScopes: []string{"keys:read", "registry:read"}}), 200)
	expect(t, e.do("PUT", "/v1/registry/packages/@acme/after", jwtTok(), map[string]string{"version": "1.0.0"}), 403, "insufficient_scope")
	// and a new registration from the session is refused by the policy
	_, pub2 := rsaKey(t, 2048)
	r, _ = register(t, e, sess, pub2)
	expect(t, r, 403, "policy_violation")
	// required-cidrs outside loopback: the JWT is refused from here
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"clear":["allowed_scopes"],"required_cidrs":["10.0.0.0/8"]}`), 200)
	if r := e.do("GET", "/v1/auth/whoami", jwtTok(), nil); r.status == 200 {
		t.Fatalf("a session's JWT used from 127.0.0.1 under required-cidrs 10.0.0.0/8 was accepted: %s", r.body)
	}
}

// The smaller findings: an unknown crit header, a refresh asking for more, an
// admin revoking an owner's key, a policy field set and cleared at once.
func TestSmallerCeilingFindings(t *testing.T) {
	e := start(t, server.Config{})

	// crit: no extension is understood, so any crit header is refused
	priv, pub := rsaKey(t, 2048)
	r, kid := register(t, e, e.token, pub)
	e.ok(r, 201)
	now := e.clock.Now()
	tk := jwt.NewWithClaims(jwt.SigningMethodRS256, claims{Scope: "keys:read", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "dev", Subject: "dev", Audience: jwt.ClaimStrings{e.ts.URL}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}})
	tk.Header["kid"] = kid
	tk.Header["crit"] = []string{"exp-policy"}
	tk.Header["exp-policy"] = "strict"
	critTok, err := tk.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/v1/auth/whoami", critTok, nil)
	expect(t, r, 401, "invalid_token")
	if !strings.Contains(string(r.body), "crit") {
		t.Errorf("the refusal does not name crit: %s", r.body)
	}
	e.ok(e.do("GET", "/v1/auth/whoami", sign(t, priv, kid, "dev", e.ts.URL, now, now.Add(time.Hour), "keys:read"), nil), 200)

	// a refresh asking for more than the session has: invalid_scope
	_, rt := e.sessionPair("dev", "keys:read")
	status, body, _ := tokenReq(t, e.ts.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"codesync-cli"}, "scope": {"keys:read keys:write"}})
	if status != 400 || body["error"] != "invalid_scope" {
		t.Errorf("a refresh widening the scopes: %d %v", status, body)
	}
	status, body, _ = tokenReq(t, e.ts.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"codesync-cli"}, "scope": {"keys:read"}})
	if status != 200 || body["scope"] != "keys:read" {
		t.Errorf("a refresh keeping the scopes: %d %v", status, body)
	}

	// an admin cannot revoke an owner's key; an owner can
	owner := e.user("olivia", orgScopes...)
	admin := e.user("adam", orgScopes...)
	e.ok(e.do("POST", "/v1/orgs", owner, model.CreateOrgRequest{Slug: "acme"}), 201)
	e.ok(e.do("PUT", "/v1/orgs/acme/namespaces/@acme", owner, nil), 201)
	e.join(owner, "acme", model.AddMemberRequest{User: "adam", Role: "admin"})
	ok, cr := e.create(owner, model.CreateKeyRequest{Name: "owners", Scopes: []string{"registry:read"}, Namespaces: []string{"@acme"}})
	e.ok(cr, 201)
	expect(t, e.do("DELETE", "/v1/orgs/acme/members/olivia/keys/"+ok.ID, admin, nil), 403, "forbidden")
	ak, cr := e.create(admin, model.CreateKeyRequest{Name: "admins", Scopes: []string{"registry:read"}, Namespaces: []string{"@acme"}})
	e.ok(cr, 201)
	e.ok(e.do("DELETE", "/v1/orgs/acme/members/adam/keys/"+ak.ID, owner, nil), 200)
	e.ok(e.do("DELETE", "/v1/orgs/acme/members/olivia/keys/"+ok.ID, owner, nil), 200)

	// a policy field set and cleared in one request
	for _, b := range []string{`{"max_keys":3,"clear":["max_keys"]}`, `{"allowed_scopes":["registry:read"],"clear":["allowed_scopes"]}`,
		`{"max_lifetime_seconds":86400,"clear":["max_lifetime"]}`, `{"required_cidrs":["10.0.0.0/8"],"clear":["required_cidrs"]}`} {
		expect(t, e.do("PATCH", "/v1/orgs/acme/policy", owner, b), 400, "invalid_request")
	}
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"max_keys":3,"clear":["allowed_scopes"]}`), 200)
}
