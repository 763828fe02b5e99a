package store

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// schemaBeforeOrgs is how many migrations the schema had before
// organizations (migration 4) came.
const schemaBeforeOrgs = 3

// TestMigrateFromSchemaBeforeOrgs builds a database with the schema of the
// release before organizations, fills it, and opens it with today's code:
// every row must survive, and the organization tables must work.
func TestMigrateFromSchemaBeforeOrgs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.sqlite")
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(ON)")
	old, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	steps := append([]string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`}, Migrations()[:schemaBeforeOrgs]...)
	steps = append(steps,
		`INSERT INTO schema_version VALUES (3)`,
		`INSERT INTO users (id, name, password_hash, created_at) VALUES (1, 'alice', 'h', 1700000000), (2, 'bob', 'h', 1700000000)`,
		`INSERT INTO api_keys (id, user_id, name, prefix, token_hash, environment, scopes, cidrs, namespaces, created_at, updated_at, expires_at, revoked_at)
		 VALUES ('key_a', 1, 'ci', 'csy_prod_Abc', x'01', 'production', 'registry:read registry:publish', '10.0.0.0/8', '@acme', 1700000000, 1700000000, 1900000000, NULL),
		        ('key_b', 2, 'old', 'csy_prod_Def', x'02', 'production', 'keys:read', '', '', 1700000000, 1700000100, 1800000000, 1700000100)`,
		`INSERT INTO audit_events (user_id, type, time, actor, key_id, ip, detail) VALUES (1, 'token:created', 1700000000, 'alice', 'key_a', '127.0.0.1', 'x')`,
		`INSERT INTO packages (name, user_id, metadata, updated_at) VALUES ('@acme/web', 1, '{"v":1}', 1700000000)`,
		`INSERT INTO jwt_keys (id, user_id, name, public_pem, fingerprint, bits, created_at) VALUES ('jwk_1', 2, 'svc', 'pem', 'SHA256:x', 2048, 1700000000)`,
	)
	for _, st := range steps {
		if _, err := old.Exec(st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	old.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var v int
	if err := s.DB().QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != len(Migrations()) {
		t.Fatalf("schema version %d (%v), want %d", v, err, len(Migrations()))
	}
	k, err := s.KeyByID(ctx, 1, "key_a")
	if err != nil || k.Name != "ci" || len(k.Scopes) != 2 || k.CIDRs[0] != "10.0.0.0/8" || k.Namespaces[0] != "@acme" || k.RevokedAt != nil {
		t.Fatalf("key_a after migration: %+v, %v", k, err)
	}
	if k, err := s.KeyByID(ctx, 2, "key_b"); err != nil || k.RevokedAt == nil {
		t.Fatalf("key_b after migration: %+v, %v", k, err)
	}
	n := 0
	if err := s.ForEachEvent(ctx, EventFilter{UserID: 1}, func(*Event) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("events of alice: %d, %v", n, err)
	}
	p, err := s.GetPackage(ctx, "@acme/web")
	if err != nil || p.UserID != 1 || string(p.Metadata) != `{"v":1}` || p.OrgID != 0 {
		t.Fatalf("package: %+v, %v", p, err)
	}
	if jk, err := s.JWTKeyByID(ctx, "jwk_1"); err != nil || jk.UserID != 2 {
		t.Fatalf("jwt key: %+v, %v", jk, err)
	}

	// the new tables work on the migrated data: an organization claims @acme,
	// alice joins it and her package stays hers until she is offboarded
	now := time.Unix(1750000000, 0)
	o, err := s.CreateOrg(ctx, "acme", "Acme", 2, now, &Event{Type: "org:created", Time: now, Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	// alice's first publish made @acme hers: bob cannot take it, she can
	// hand it to the organization
	if err := s.ClaimScope(ctx, o.ID, 2, "@acme", now, &Event{Type: "namespace:claimed", Time: now, Actor: "bob"}); err != ErrExists {
		t.Fatalf("bob claiming alice's @acme: %v", err)
	}
	if err := s.ClaimScope(ctx, o.ID, 1, "@acme", now, &Event{Type: "namespace:claimed", Time: now, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, o.ID, 1, "member", now, &Event{Type: "member:added", Time: now, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	off, err := s.RemoveMember(ctx, o.ID, 1, now, func(typ string, keyID *string, detail string) *Event {
		uid := int64(1)
		return &Event{UserID: &uid, Type: typ, Time: now, Actor: "bob", KeyID: keyID, Detail: detail}
	})
	if err != nil || len(off.RevokedKeys) != 1 || off.RevokedKeys[0].ID != "key_a" || len(off.HandedPackages) != 1 {
		t.Fatalf("offboarding: %+v, %v", off, err)
	}
	if p, _ := s.GetPackage(ctx, "@acme/web"); p.OrgID != o.ID {
		t.Fatalf("package not handed over: %+v", p)
	}
	// a scope has one owner
	o2, err := s.CreateOrg(ctx, "other", "Other", 1, now, &Event{Type: "org:created", Time: now, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimScope(ctx, o2.ID, 1, "@acme", now, &Event{Type: "namespace:claimed", Time: now, Actor: "alice"}); err != ErrExists {
		t.Fatalf("second claim of @acme: %v", err)
	}
	if _, err := s.DB().Exec(`INSERT INTO scope_owners (scope, org_id, user_id, claimed_at) VALUES ('@both', ?, 1, 0)`, o2.ID); err == nil {
		t.Fatal("a scope owned by an organization and a user at once was accepted")
	}
	// the last owner stays
	if _, err := s.SetRole(ctx, o.ID, 2, "member", &Event{Type: "role:changed", Time: now, Actor: "bob"}); err != ErrLastOwner {
		t.Fatalf("demoting the last owner: %v", err)
	}
}
