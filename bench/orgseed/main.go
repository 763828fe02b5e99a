// Command orgseed builds an organization for the organization-export
// benchmark: go run ./bench/orgseed -db F -keys N -members M. The user "dev"
// (made by 'server --dev --db F') owns the organization "acme", which owns
// @acme; M members hold N keys between them (most expired or revoked, so the
// 12-key limit holds), every one limited to @acme so it reaches the
// organization.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

func main() {
	db := flag.String("db", "", "database file (created by 'server --dev --db F' first)")
	keys := flag.Int("keys", 100000, "keys to add, spread over the members")
	members := flag.Int("members", 100, "members besides dev")
	flag.Parse()
	if err := run(*db, *keys, *members); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(path string, keys, members int) error {
	st, err := store.Open(path)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	dev, err := st.UserByName(ctx, "dev")
	if err != nil {
		return fmt.Errorf("no user dev: %w", err)
	}
	ev := func(t string) *store.Event { return &store.Event{Type: t, Time: now, Actor: "orgseed"} }
	o, err := st.CreateOrg(ctx, "acme", "Acme", dev.ID, now, ev(model.EventOrgCreated))
	if err != nil {
		return err
	}
	if err := st.ClaimScope(ctx, o.ID, dev.ID, "@acme", now, ev(model.EventNamespaceClaimed)); err != nil {
		return err
	}
	ids := make([]int64, members)
	for i := range ids {
		u, err := st.CreateUser(ctx, fmt.Sprintf("member%04d", i), "-", now)
		if err != nil {
			return err
		}
		ids[i] = u.ID
		if err := st.AddMember(ctx, o.ID, u.ID, model.RoleMember, now, ev(model.EventMemberAdded)); err != nil {
			return err
		}
	}
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(`INSERT INTO api_keys (id, user_id, name, prefix, token_hash, environment, scopes, cidrs, namespaces,
		created_at, updated_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for i := 0; i < keys; i++ {
		uid := ids[i%members]
		h := sha256.Sum256([]byte(fmt.Sprintf("orgseed-%d", i)))
		created := now.Add(-time.Duration(i%700+2) * time.Hour) // all expired or revoked
		var revoked any
		if i%2 == 0 {
			revoked = created.Add(time.Hour).Unix()
		}
		if _, err := ins.Exec(fmt.Sprintf("key_org%011d", i), uid, fmt.Sprintf("org-%d", i), "csy_prod_Og0", h[:], "production",
			"registry:read registry:publish", "10.0.0.0/8", "@acme", created.Unix(), created.Unix(), created.Add(time.Hour).Unix(), revoked); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded organization acme: %d members, %d keys in %s\n", members, keys, time.Since(start).Round(time.Millisecond))
	return nil
}
