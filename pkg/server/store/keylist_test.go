package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openSeeded(t testing.TB, keys int) (*Store, *User, time.Time) {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	u, err := st.CreateUser(context.Background(), "u", "x", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Seed(context.Background(), u.ID, keys, 0, now); err != nil {
		t.Fatal(err)
	}
	return st, u, now
}

// plan returns SQLite's EXPLAIN QUERY PLAN of q, one "detail" a line.
func plan(t *testing.T, st *Store, q string, args ...any) string {
	t.Helper()
	rows, err := st.db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestKeyQueriesUseIndexes: the key list (usable keys, and all keys) and the
// authentication lookup search an index; none scans the table or an index.
// ANALYZE first, so the planner decides with real statistics of a table
// where most keys are revoked or expired.
func TestKeyQueriesUseIndexes(t *testing.T) {
	st, _, now := openSeeded(t, 2000)
	if _, err := st.db.Exec("ANALYZE"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, q string
		args    []any
		want    string
	}{
		{"usable keys", listKeysQuery(false), []any{1, unix(now), 0, 100}, "SEARCH api_keys USING INDEX api_keys_usable (user_id=? AND expires_at>?)"},
		{"all keys", listKeysQuery(true), []any{1, 0, 100}, "SEARCH api_keys USING INDEX api_keys_user (user_id=? AND seq>?)"},
		{"lookup by hash", keyByHashQuery, []any{[]byte("h")}, "SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_"},
	} {
		p := plan(t, st, c.q, c.args...)
		t.Logf("%s:\n%s", c.name, p)
		if strings.Contains(p, "SCAN ") || !strings.Contains(p, c.want) {
			t.Errorf("%s: plan\n%s\nwant %q and no SCAN", c.name, p, c.want)
		}
	}
	// the hash lookup's index is the one on token_hash
	var idx string
	if err := st.db.QueryRow(`SELECT il.name FROM pragma_index_list('api_keys') il JOIN pragma_index_info(il.name) ii WHERE ii.name = 'token_hash' AND il."unique" = 1`).Scan(&idx); err != nil {
		t.Fatal(err)
	}
	if p := plan(t, st, keyByHashQuery, []byte("h")); !strings.Contains(p, "INDEX "+idx+" (token_hash=?)") {
		t.Errorf("lookup by hash does not use %s: %s", idx, p)
	}
}

// TestListKeysPages: usable keys only, in seq order, page by page after the
// cursor; revoked, expired and other users' keys never appear.
func TestListKeysPages(t *testing.T) {
	st, u, now := openSeeded(t, 500) // all revoked or expired
	ctx := context.Background()
	other, err := st.CreateUser(ctx, "other", "x", now)
	if err != nil {
		t.Fatal(err)
	}
	ins := func(user int64, name string, expires time.Time, revoked any) {
		t.Helper()
		if _, err := st.db.Exec(`INSERT INTO api_keys (id, user_id, name, prefix, token_hash, environment, scopes, cidrs, namespaces,
			created_at, updated_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			"key_"+name, user, name, "csy_dev_x", []byte(name), "sandbox", "registry:read", "", "", unix(now), unix(now), unix(expires), revoked); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := 0; i < 7; i++ {
		n := fmt.Sprintf("usable%d", i)
		ins(u.ID, n, now.Add(time.Duration(7-i)*time.Hour), nil) // expiry order differs from seq order
		want = append(want, "key_"+n)
		ins(u.ID, fmt.Sprintf("revoked%d", i), now.Add(time.Hour), unix(now))
		ins(u.ID, fmt.Sprintf("expired%d", i), now.Add(-time.Second), nil)
		ins(other.ID, fmt.Sprintf("others%d", i), now.Add(time.Hour), nil)
	}
	var got []string
	var after int64
	for {
		page, err := st.ListKeys(ctx, u.ID, false, after, 3, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			got = append(got, k.ID)
			after = k.Seq
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
	all, err := st.ListKeys(ctx, u.ID, true, 0, 10000, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 500+21 {
		t.Fatalf("all keys: %d, want %d", len(all), 521)
	}
}

// BenchmarkListKeysPage: one page of usable keys (limit 100) at 1,000,
// 10,000 and 100,000 keys, most revoked or expired as in real accounts. The
// cost must not grow with the table (bench/run.sh measures the same through
// the real server).
func BenchmarkListKeysPage(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			st, u, now := openSeeded(b, n)
			b.ResetTimer()
			for b.Loop() {
				if _, err := st.ListKeys(context.Background(), u.ID, false, 0, 101, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
