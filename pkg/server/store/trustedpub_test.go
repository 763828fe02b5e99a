package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// The replay guard remembers a jti until it expires, across store reopens,
// and Purge forgets it after.
func TestUseJTIAndPurge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	exp := now.Add(5 * time.Minute)
	if err := s.UseJTI(ctx, "https://iss", "j1", exp, now); err != nil {
		t.Fatal(err)
	}
	if err := s.UseJTI(ctx, "https://other", "j1", exp, now); err != nil {
		t.Fatalf("the same jti of another issuer: %v", err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.UseJTI(ctx, "https://iss", "j1", exp, now.Add(time.Minute)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay after reopen: %v", err)
	}
	p, err := s.Purge(ctx, now.Add(time.Minute))
	if err != nil || p.TrustedPub != 0 {
		t.Fatalf("purge before expiry: %+v %v", p, err)
	}
	p, err = s.Purge(ctx, exp.Add(time.Second))
	if err != nil || p.TrustedPub != 2 {
		t.Fatalf("purge after expiry: %+v %v", p, err)
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM oidc_jtis`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d jtis left (%v)", n, err)
	}
}
