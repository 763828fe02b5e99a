package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"time"
)

// Seed fills the user's account with n synthetic keys (most expired or
// revoked, so the 12-key limit holds) and m audit events, for benchmarks and
// the export streaming tests. One transaction, prepared statements.
func (s *Store) Seed(ctx context.Context, userID int64, n, m int, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		ks, err := tx.Prepare(`INSERT INTO api_keys (id, user_id, name, prefix, token_hash, environment, scopes, cidrs, namespaces,
			created_at, updated_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer ks.Close()
		for i := 0; i < n; i++ {
			h := sha256.Sum256([]byte(fmt.Sprintf("seed-%d-%d", userID, i)))
			created := now.Add(-time.Duration(i%700+2) * time.Hour) // all expired or revoked
			var revoked any
			expires := created.Add(time.Hour)
			if i%2 == 0 {
				revoked = unix(created.Add(time.Hour))
			}
			if _, err := ks.Exec(fmt.Sprintf("key_seed%010d", i), userID, fmt.Sprintf("seed-%d", i), "csy_prod_Sd0", h[:], "production",
				"registry:read registry:publish", "10.0.0.0/8", "@acme", unix(created), unix(created), unix(expires), revoked); err != nil {
				return err
			}
		}
		es, err := tx.Prepare(`INSERT INTO audit_events (user_id, type, time, actor, key_id, ip, detail) VALUES (?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer es.Close()
		for i := 0; i < m; i++ {
			if _, err := es.Exec(userID, "token:used", unix(now.Add(-time.Duration(i)*time.Second)), "seed", fmt.Sprintf("key_seed%010d", i%max(n, 1)), "127.0.0.1", "api_key csy_prod_Sd0"); err != nil {
				return err
			}
		}
		return nil
	})
}
