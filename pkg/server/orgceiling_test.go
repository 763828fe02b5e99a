package server_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
)

func whoamiScopes(t *testing.T, e *env, tok string) []string {
	t.Helper()
	r := e.do("GET", "/v1/auth/whoami", tok, nil)
	if r.status != 200 {
		t.Fatalf("whoami: %d %s", r.status, r.body)
	}
	var who model.WhoAmI
	if err := json.Unmarshal(r.body, &who); err != nil {
		t.Fatal(err)
	}
	return who.Credential.Scopes
}

// An organization's policy bounds JWT key registration through the one
// ceiling rule: a credential whose ceiling breaks allowed-scopes or
// required-cidrs cannot register a signing key for the organization.
func TestOrgPolicyRefusesJWTKeyRegistration(t *testing.T) {
	e := start(t, server.Config{})
	owner, member := orgWithMember(e)
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, model.OrgPolicyUpdate{AllowedScopes: []string{"keys:read", "keys:write", "registry:read"}}), 200)
	_, pub := rsaKey(t, 2048)

	// the member's key has every scope and no namespace: it reaches acme
	r, _ := register(t, e, member, pub)
	expect(t, r, 403, "policy_violation")
	if !strings.Contains(string(r.body), "allowed-scopes") {
		t.Fatalf("the refusal does not name the rule: %s", r.body)
	}
	// a key inside the allowed scopes registers
	k, cr := e.create(member, model.CreateKeyRequest{Name: "signer", Scopes: []string{"keys:read", "keys:write", "registry:read"}, Namespaces: []string{"@acme"}})
	e.ok(cr, 201)
	r, _ = register(t, e, k.Token, pub)
	expect(t, r, 201, "")

	// required-cidrs: a key usable from anywhere cannot register
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, model.OrgPolicyUpdate{RequiredCIDRs: []string{"10.0.0.0/8"}}), 200)
	r, _ = register(t, e, k.Token, pub)
	expect(t, r, 403, "policy_violation")
	if !strings.Contains(string(r.body), "required-cidrs") {
		t.Fatalf("the refusal does not name the rule: %s", r.body)
	}
	// a key that does not reach the organization is not bound by it
	other, cr := e.create(member, model.CreateKeyRequest{Name: "mine", Scopes: []string{"keys:read", "keys:write", "registry:publish"}, Namespaces: []string{"@mia"}})
	e.ok(cr, 201)
	r, _ = register(t, e, other.Token, pub)
	expect(t, r, 201, "")
}

// A JWT's effective rights are its claims cut down by the ceiling recorded
// with its signing key and by the policies of the organizations it reaches,
// as they are when the JWT is used: a policy tightened after registration
// narrows the JWTs signed since.
func TestOrgPolicyNarrowsJWTs(t *testing.T) {
	e := start(t, server.Config{})
	owner, member := orgWithMember(e)
	k, cr := e.create(member, model.CreateKeyRequest{Name: "signer", Scopes: []string{"keys:read", "keys:write", "registry:read", "registry:publish"}, Namespaces: []string{"@acme"}})
	e.ok(cr, 201)
	priv, pub := rsaKey(t, 2048)
	r, kid := register(t, e, k.Token, pub)
	expect(t, r, 201, "")
	aud := e.ts.URL
	jwtNow := func(scope string) string {
		now := e.clock.Now()
		return sign(t, priv, kid, "mia", aud, now, now.Add(10*time.Minute), scope)
	}
	all := "keys:read registry:read registry:publish"
	if got := whoamiScopes(t, e, jwtNow(all)); !slices.Equal(got, []string{"keys:read", "registry:publish", "registry:read"}) {
		t.Fatalf("before the policy: %v", got)
	}
	e.ok(e.do("PUT", "/v1/registry/packages/@acme/one", jwtNow(all), map[string]string{"version": "1.0.0"}), 200)

	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, model.OrgPolicyUpdate{AllowedScopes: []string{"keys:read", "registry:read"}}), 200)
	if got := whoamiScopes(t, e, jwtNow(all)); !slices.Equal(got, []string{"keys:read", "registry:read"}) {
		t.Fatalf("a JWT claiming %q under allowed-scopes keys:read,registry:read has %v", all, got)
	}
	expect(t, e.do("PUT", "/v1/registry/packages/@acme/two", jwtNow(all), map[string]string{"version": "1.0.0"}), 403, "insufficient_scope")

	// required-cidrs: the JWT is usable only from inside the required network
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, model.OrgPolicyUpdate{RequiredCIDRs: []string{"10.0.0.0/8"}}), 200)
	if r := e.do("GET", "/v1/auth/whoami", jwtNow(all), nil); r.status == 200 {
		t.Fatalf("a JWT used from 127.0.0.1 under required-cidrs 10.0.0.0/8 was accepted: %s", r.body)
	}
	// cleared: the JWT has its claims again
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, model.OrgPolicyUpdate{Clear: []string{"allowed_scopes", "required_cidrs"}}), 200)
	if got := whoamiScopes(t, e, jwtNow(all)); len(got) != 3 {
		t.Fatalf("after clearing the policy: %v", got)
	}
}
