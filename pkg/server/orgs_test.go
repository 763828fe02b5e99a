package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

var orgScopes = []string{"orgs:read", "orgs:write", "npm:scope:write", "keys:read", "keys:write", "audit:read", "registry:read", "registry:publish"}

// user adds a user with one production key of scopes and returns its token.
func (e *env) user(name string, scopes ...string) string {
	e.t.Helper()
	ctx := context.Background()
	now := e.clock.Now().Truncate(time.Second)
	u, err := e.st.CreateUser(ctx, name, server.HashPassword("correct horse battery"), now)
	if err != nil {
		e.t.Fatal(err)
	}
	tok := token.New("prod")
	k := &store.KeyRecord{ID: "key_" + token.RandomString(16), UserID: u.ID, Name: name, Prefix: token.Prefix(tok), TokenHash: token.Hash(tok),
		Environment: model.EnvProduction, Scopes: scopes, CIDRs: []string{}, Namespaces: []string{}, CreatedAt: now, ExpiresAt: now.Add(keyrules.DefExpiry)}
	if err := e.st.CreateKey(ctx, k, keyrules.MaxActive, &store.Event{UserID: &u.ID, Type: model.EventTokenCreated, Time: now, Actor: name, KeyID: &k.ID}); err != nil {
		e.t.Fatal(err)
	}
	if e.tokens == nil {
		e.tokens = map[string]string{}
	}
	e.tokens[name] = tok
	return tok
}

// join invites a user made with e.user to slug and accepts as that user.
func (e *env) join(owner, slug string, req model.AddMemberRequest) {
	e.t.Helper()
	e.ok(e.do("POST", "/v1/orgs/"+slug+"/members", owner, req), 201)
	e.ok(e.do("POST", "/v1/orgs/"+slug+"/members/"+req.User+"/accept", e.tokens[req.User], nil), 200)
}

func (e *env) ok(r resp, status int) []byte {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("want %d, got %d %s", status, r.status, r.body)
	}
	return r.body
}

// org makes acme (owner: the returned owner token) owning @acme, with a
// member whose token is returned too.
func orgWithMember(e *env) (owner, member string) {
	owner = e.user("olivia", orgScopes...)
	member = e.user("mia", orgScopes...)
	e.ok(e.do("POST", "/v1/orgs", owner, model.CreateOrgRequest{Slug: "acme"}), 201)
	e.ok(e.do("PUT", "/v1/orgs/acme/namespaces/@acme", owner, nil), 201)
	e.join(owner, "acme", model.AddMemberRequest{User: "mia"})
	return owner, member
}

func TestOrgRequestValidation(t *testing.T) {
	e := start(t, server.Config{})
	owner, _ := orgWithMember(e)
	for _, slug := range []string{"", "Acme", "-acme", "acme_corp", strings.Repeat("a", 65), "a/b"} {
		expect(t, e.do("POST", "/v1/orgs", owner, map[string]string{"slug": slug}), 400, "invalid_request")
	}
	expect(t, e.do("POST", "/v1/orgs", owner, model.CreateOrgRequest{Slug: "acme"}), 409, "conflict")
	expect(t, e.do("POST", "/v1/orgs/acme/members", owner, model.AddMemberRequest{User: "dev", Role: "boss"}), 400, "invalid_request")
	expect(t, e.do("PATCH", "/v1/orgs/acme/members/mia", owner, model.SetRoleRequest{Role: ""}), 400, "invalid_request")
	for _, body := range []string{`{"max_keys":13}`, `{"max_keys":0}`, `{"max_lifetime_seconds":60}`, `{"max_lifetime_seconds":31622400}`,
		`{"required_cidrs":["10.0.0.0/33"]}`, `{"allowed_scopes":["root"]}`, `{"clear":["everything"]}`, `{}`, `{"unknown":1}`} {
		expect(t, e.do("PATCH", "/v1/orgs/acme/policy", owner, body), 400, "invalid_request")
	}
	expect(t, e.do("PUT", "/v1/orgs/acme/namespaces/acme", owner, nil), 400, "invalid_request")
	expect(t, e.do("PUT", "/v1/orgs/acme/namespaces/@Acme", owner, nil), 400, "invalid_request")
	// the scopes the routes need
	readOnly := e.user("reader", "orgs:read")
	expect(t, e.do("POST", "/v1/orgs", readOnly, model.CreateOrgRequest{Slug: "other"}), 403, "insufficient_scope")
	noOrgs := e.user("keysonly", "keys:read")
	expect(t, e.do("GET", "/v1/orgs", noOrgs, nil), 403, "insufficient_scope")
}

// An organization is not_found to anyone not in it, on every route.
func TestOrgHiddenFromNonMembers(t *testing.T) {
	e := start(t, server.Config{})
	orgWithMember(e)
	zed := e.user("zed", orgScopes...)
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/orgs/acme"}, {"DELETE", "/v1/orgs/acme"}, {"GET", "/v1/orgs/acme/members"},
		{"DELETE", "/v1/orgs/acme/members/mia"}, {"GET", "/v1/orgs/acme/policy"}, {"GET", "/v1/orgs/acme/namespaces"},
		{"DELETE", "/v1/orgs/acme/namespaces/@acme"}, {"GET", "/v1/keys/export?org=acme"}, {"GET", "/v1/audit/events?org=acme"},
		{"GET", "/v1/orgs/nosuch"}, {"GET", "/v1/keys/export?org=nosuch"},
	} {
		expect(t, e.do(r.method, r.path, zed, nil), 404, "not_found")
	}
}

func TestOrgClaimNeedsScopeWrite(t *testing.T) {
	e := start(t, server.Config{})
	owner, _ := orgWithMember(e)
	e.user("adam", "orgs:read", "orgs:write")
	e.join(owner, "acme", model.AddMemberRequest{User: "adam", Role: "admin"})
	adamNoScopeWrite := e.user("adam2", "orgs:read", "orgs:write")
	e.join(owner, "acme", model.AddMemberRequest{User: "adam2", Role: "admin"})
	expect(t, e.do("PUT", "/v1/orgs/acme/namespaces/@acme-labs", adamNoScopeWrite, nil), 403, "insufficient_scope")
	// a member (not owner or admin) with the scope is refused by role
	_, member := "", e.user("mo", orgScopes...)
	e.join(owner, "acme", model.AddMemberRequest{User: "mo"})
	expect(t, e.do("PUT", "/v1/orgs/acme/namespaces/@acme-labs", member, nil), 403, "forbidden")
}

func keyOf(t *testing.T, e *env, tok, id string) model.Key {
	t.Helper()
	var k model.Key
	if err := json.Unmarshal(e.ok(e.do("GET", "/v1/keys/"+id, tok, nil), 200), &k); err != nil {
		t.Fatal(err)
	}
	return k
}

// Tightening max-keys marks the newest keys beyond the limit, and a member at
// the limit can still rotate (the replacement does not count twice).
func TestOrgMaxKeysMarksNewestAndRotationStillWorks(t *testing.T) {
	e := start(t, server.Config{})
	owner, member := orgWithMember(e)
	var ids []string
	for i := range 3 {
		e.clock.Add(time.Second)
		k, r := e.create(member, model.CreateKeyRequest{Name: fmt.Sprint("k", i), Scopes: []string{"registry:read"}, Namespaces: []string{"@acme"}})
		e.ok(r, 201)
		ids = append(ids, k.ID)
	}
	// mia now holds 4 keys reaching acme: her bootstrap key (no namespaces) and 3
	var res model.OrgPolicyResult
	json.Unmarshal(e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"max_keys":2}`), 200), &res)
	if res.KeysViolating != 2 || *res.Policy.MaxKeys != 2 {
		t.Fatalf("policy result %+v", res)
	}
	for i, id := range ids {
		got := keyOf(t, e, member, id).PolicyViolations
		want := "[]"
		if i >= 1 {
			want = "[acme:max-keys]"
		}
		if fmt.Sprint(got) != want && !(want == "[]" && len(got) == 0) {
			t.Fatalf("key %d marks %v, want %s", i, got, want)
		}
	}
	// at (beyond) the limit: a new key for the organization is refused ...
	_, r := e.create(member, model.CreateKeyRequest{Name: "more", Scopes: []string{"registry:read"}})
	expect(t, r, 403, "policy_violation")
	if !strings.Contains(string(r.body), "max-keys") {
		t.Fatalf("the refusal does not name the rule: %s", r.body)
	}
	// ... one outside it is fine ...
	_, r = e.create(member, model.CreateKeyRequest{Name: "mine", Scopes: []string{"registry:read"}, Namespaces: []string{"@mia"}})
	e.ok(r, 201)
	// ... and loosening clears the marks
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"clear":["max_keys"]}`), 200)
	if got := keyOf(t, e, member, ids[2]).PolicyViolations; len(got) != 0 {
		t.Fatalf("marks after clearing: %v", got)
	}
	// a member exactly at the limit rotates, and the old key in its grace
	// period counts no more: neither against new keys nor as a mark
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"max_keys":4}`), 200)
	e.ok(e.do("POST", "/v1/keys/"+ids[0]+"/rotate", member, `{"grace_seconds":3600}`), 200)
	var res2 model.OrgPolicyResult
	json.Unmarshal(e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"max_keys":4}`), 200), &res2)
	if res2.KeysViolating != 0 {
		t.Fatalf("%d keys marked after a rotation with grace, want 0", res2.KeysViolating)
	}
	_, r = e.create(member, model.CreateKeyRequest{Name: "fifth", Scopes: []string{"registry:read"}, Namespaces: []string{"@acme"}})
	expect(t, r, 403, "policy_violation")
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"max_keys":5}`), 200)
	_, r = e.create(member, model.CreateKeyRequest{Name: "fifth", Scopes: []string{"registry:read"}, Namespaces: []string{"@acme"}})
	e.ok(r, 201)
}

// The organization's log pages with a cursor like the personal one, and a
// member's personal events (sign-ins) stay out of it.
func TestOrgEventsPaging(t *testing.T) {
	e := start(t, server.Config{})
	owner, member := orgWithMember(e)
	for i := range 5 {
		e.user(fmt.Sprint("u", i), "orgs:read", "orgs:write")
		e.join(owner, "acme", model.AddMemberRequest{User: fmt.Sprint("u", i), Role: "auditor"})
	}
	e.st.AddEvent(context.Background(), &store.Event{UserID: ptr(int64(2)), Type: model.EventLoginSucceeded, Time: e.clock.Now(), Actor: "mia", Detail: "private"})
	_, r := e.create(member, model.CreateKeyRequest{Name: "ci", Scopes: []string{"registry:read"}, Namespaces: []string{"@acme"}})
	e.ok(r, 201)
	var all []model.Event
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("no end to the pages")
		}
		var page model.EventList
		json.Unmarshal(e.ok(e.do("GET", "/v1/audit/events?org=acme&limit=2&cursor="+cursor, owner, nil), 200), &page)
		all = append(all, page.Events...)
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	var types []string
	seen := map[string]bool{}
	for _, ev := range all {
		if seen[ev.ID] {
			t.Fatalf("event %s twice", ev.ID)
		}
		seen[ev.ID] = true
		types = append(types, ev.Type)
	}
	got := strings.Join(types, " ")
	// the members' key events come in too (their bootstrap keys have no
	// namespaces, so they reach the organization), the sign-in does not
	want := "token:created token:created org:created namespace:claimed member:invited member:added" + strings.Repeat(" token:created member:invited member:added", 5) + " token:created"
	if got != want {
		t.Fatalf("org log:\n got %s\nwant %s", got, want)
	}
	// a plain member does not read it
	expect(t, e.do("GET", "/v1/audit/events?org=acme", member, nil), 403, "forbidden")
}

func ptr[T any](v T) *T { return &v }

// The organization's export covers every member's key that reaches it, with
// its owner, and counts them in the summary.
func TestOrgExport(t *testing.T) {
	e := start(t, server.Config{})
	owner, member := orgWithMember(e)
	e.create(member, model.CreateKeyRequest{Name: "reach", Scopes: []string{"registry:read"}, Namespaces: []string{"@acme/web"}})
	e.create(member, model.CreateKeyRequest{Name: "private", Scopes: []string{"registry:read"}, Namespaces: []string{"@mia"}})
	zed := e.user("zed", orgScopes...)
	e.create(zed, model.CreateKeyRequest{Name: "outsider", Scopes: []string{"registry:read"}})
	var doc struct {
		User    string
		Org     string
		Summary model.ExportSummary
		Keys    []model.Key
	}
	if err := json.Unmarshal(e.ok(e.do("GET", "/v1/keys/export?org=acme&format=json", owner, nil), 200), &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range doc.Keys {
		names = append(names, k.Owner+"/"+k.Name)
	}
	if got := strings.Join(names, " "); got != "olivia/olivia mia/mia mia/reach" || doc.Org != "acme" || doc.User != "olivia" || doc.Summary.Active != 3 {
		t.Fatalf("export: %s %+v", got, doc)
	}
	csv := string(e.ok(e.do("GET", "/v1/keys/export?org=acme&format=csv", owner, nil), 200))
	if !strings.Contains(csv, ",mia,\n") || strings.Contains(csv, "private") {
		t.Fatalf("csv export:\n%s", csv)
	}
}

// FuzzOrgBodies: no request to the organization endpoints, however
// malformed, makes a handler fail with a 5xx.
func FuzzOrgBodies(f *testing.F) {
	f.Add("POST", "/v1/orgs", `{"slug":"x","name":"X"}`)
	f.Add("POST", "/v1/orgs/acme/members", `{"user":"mia","role":"owner"}`)
	f.Add("PATCH", "/v1/orgs/acme/members/mia", `{"role":"auditor"}`)
	f.Add("PATCH", "/v1/orgs/acme/policy", `{"max_lifetime_seconds":-1,"allowed_scopes":[],"required_cidrs":["::/0"],"max_keys":99,"clear":["max_keys"]}`)
	f.Add("PUT", "/v1/orgs/acme/namespaces/@a%2Fb", "")
	f.Add("DELETE", "/v1/orgs/acme/members/olivia/keys/key_x", "")
	f.Add("GET", "/v1/keys/export?org=acme&format=csv&since=x", "")
	f.Add("GET", "/v1/audit/events?org=acme&cursor=%ff&type=member:added", "")
	e := start(f, server.Config{ProdRate: 1e9, DevRate: 1e9})
	owner, _ := orgWithMember(e)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if method != "GET" && method != "POST" && method != "PUT" && method != "PATCH" && method != "DELETE" {
			return
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n#") {
			return
		}
		ee := *e
		ee.t = t
		r := ee.do(method, path, owner, body)
		if r.status >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, r.status, r.body)
		}
	})
}

// Concurrent creates cannot slip past max-keys together: a member's key
// creations are checked and written one at a time.
func TestOrgMaxKeysConcurrentCreates(t *testing.T) {
	e := start(t, server.Config{ProdRate: 1e9, DevRate: 1e9})
	owner, member := orgWithMember(e)
	e.ok(e.do("PATCH", "/v1/orgs/acme/policy", owner, `{"max_keys":3}`), 200) // the bootstrap key is one
	const n = 10
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, r := e.create(member, model.CreateKeyRequest{Name: fmt.Sprint("c", i), Scopes: []string{"registry:read"}, Namespaces: []string{"@acme"}})
			codes <- r.status
		}()
	}
	wg.Wait()
	close(codes)
	created := 0
	for c := range codes {
		if c == 201 {
			created++
		} else if c != 403 {
			t.Fatalf("status %d", c)
		}
	}
	if created != 2 {
		t.Fatalf("%d keys created concurrently under max-keys 3 with 1 held, want 2", created)
	}
}
