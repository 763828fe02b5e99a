// Command seed fills a server database with synthetic keys and events for the
// benchmarks and the export streaming tests:
//
//	go run ./bench/seed -db F -keys N -events M [-tokens K -tokens-out FILE]
//
// With -tokens it also gives a second user ("bench") K usable csy_dev_ keys and
// writes their tokens to FILE, one a line, for the first-use throughput
// measure (credentials the server's cache has not seen). They belong to
// another user, so the dev user's key list stays realistic (a handful of
// usable keys among many revoked and expired ones).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

func main() {
	db := flag.String("db", "", "database file (created by 'server --dev --db F' first)")
	keys := flag.Int("keys", 100000, "keys to add")
	events := flag.Int("events", 1000000, "events to add")
	user := flag.String("user", "dev", "whose account")
	nTokens := flag.Int("tokens", 0, "usable keys to add for the user 'bench'")
	tokensOut := flag.String("tokens-out", "", "file to write the -tokens tokens to")
	flag.Parse()
	ctx := context.Background()
	st, err := store.Open(*db)
	if err != nil {
		fail(err)
	}
	defer st.Close()
	u, err := st.UserByName(ctx, *user)
	if err != nil {
		fail(fmt.Errorf("no user %s: %w", *user, err))
	}
	start := time.Now()
	if err := st.Seed(ctx, u.ID, *keys, *events, time.Now()); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "seeded %d keys and %d events in %s\n", *keys, *events, time.Since(start).Round(time.Millisecond))
	if *nTokens > 0 {
		if *tokensOut == "" {
			fail(fmt.Errorf("-tokens needs -tokens-out"))
		}
		if err := seedTokens(ctx, st, *nTokens, *tokensOut); err != nil {
			fail(err)
		}
	}
}

// seedTokens adds n usable keys for the user "bench" in one transaction and
// writes their tokens to path (mode 0600).
func seedTokens(ctx context.Context, st *store.Store, n int, path string) error {
	now := time.Now()
	u, err := st.UserByName(ctx, "bench")
	if err != nil {
		if u, err = st.CreateUser(ctx, "bench", "!", now); err != nil { // "!": no password can log in
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(`INSERT INTO api_keys (id, user_id, name, prefix, token_hash, environment, scopes, cidrs, namespaces,
		created_at, updated_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for i := 0; i < n; i++ {
		tok := token.New("dev")
		if _, err := ins.Exec(fmt.Sprintf("key_bench%010d", i), u.ID, fmt.Sprintf("bench-%d", i), token.Prefix(tok), token.Hash(tok),
			"sandbox", "keys:read", "", "", now.Unix(), now.Unix(), now.Add(24*time.Hour).Unix()); err != nil {
			return err
		}
		fmt.Fprintln(w, tok)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded %d first-use tokens for user bench\n", n)
	return w.Flush()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "seed:", err)
	os.Exit(1)
}
