package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/credstore"
)

// newResolver is a Resolver over a credentials file holding s.
func newResolver(t *testing.T, s *auth.Session, refresher auth.Refresher) *auth.Resolver {
	t.Helper()
	dir := t.TempDir()
	st := &credstore.File{Path: filepath.Join(dir, "credentials.json")}
	r := &auth.Resolver{
		Store:     func() (credstore.Store, error) { return st, nil },
		Account:   "default@127.0.0.1:1",
		LockPath:  filepath.Join(dir, "default.lock"),
		Refresher: refresher,
		Now:       time.Now,
	}
	if err := r.Save(s); err != nil {
		t.Fatal(err)
	}
	return r
}

// Item 4: a 401 invalid_token for a session whose expiry is unknown
// refreshes it once, under the lock; a second caller holding the same
// rejected token gets the new one without another refresh.
func TestReauthRefreshesOnceUnderTheLock(t *testing.T) {
	var refreshes atomic.Int32
	r := newResolver(t, &auth.Session{Type: auth.TypeOAuth, AccessToken: "old", RefreshToken: "r1"}, func(_ context.Context, s *auth.Session) (*auth.Session, error) {
		refreshes.Add(1)
		if s.RefreshToken != "r1" {
			t.Errorf("refreshed with %q", s.RefreshToken)
		}
		return &auth.Session{Type: auth.TypeOAuth, AccessToken: "new", RefreshToken: "r2"}, nil
	})
	for i := 0; i < 2; i++ {
		tok, err := r.Reauth(context.Background(), "old")
		if err != nil || tok != "new" {
			t.Fatalf("reauth %d: %q %v", i, tok, err)
		}
	}
	if n := refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	if s, _ := r.Load(); s.RefreshToken != "r2" {
		t.Fatalf("the rotated refresh token was not stored: %+v", s)
	}
	// a refused refresh leaves the server's 401 as the answer; a refresh
	// that could not be made (network) is the error the person sees
	r = newResolver(t, &auth.Session{Type: auth.TypeOAuth, AccessToken: "old", RefreshToken: "r1"}, func(context.Context, *auth.Session) (*auth.Session, error) {
		return nil, &auth.SessionExpiredError{Reason: "refused"}
	})
	if tok, err := r.Reauth(context.Background(), "old"); tok != "" || err != nil {
		t.Fatalf("refused refresh: %q %v", tok, err)
	}
	unreachable := errors.New("the token endpoint did not answer")
	r = newResolver(t, &auth.Session{Type: auth.TypeOAuth, AccessToken: "old", RefreshToken: "r1"}, func(context.Context, *auth.Session) (*auth.Session, error) {
		return nil, unreachable
	})
	if _, err := r.Reauth(context.Background(), "old"); !errors.Is(err, unreachable) {
		t.Fatalf("want the transport error, got %v", err)
	}
}

// Nothing to refresh: an environment token, a session without a refresh
// token, an API key stored with --with-token.
func TestReauthWithNothingToRefresh(t *testing.T) {
	never := func(context.Context, *auth.Session) (*auth.Session, error) {
		t.Fatal("refreshed")
		return nil, nil
	}
	for _, s := range []*auth.Session{
		{Type: auth.TypeOAuth, AccessToken: "old"},
		{Type: auth.TypeAPIKey, AccessToken: "old", RefreshToken: "x"},
	} {
		r := newResolver(t, s, never)
		if tok, err := r.Reauth(context.Background(), "old"); tok != "" || err != nil {
			t.Fatalf("%+v: %q %v", s, tok, err)
		}
	}
	r := newResolver(t, &auth.Session{Type: auth.TypeOAuth, AccessToken: "old", RefreshToken: "r"}, never)
	r.EnvToken = "env"
	if tok, err := r.Reauth(context.Background(), "env"); tok != "" || err != nil {
		t.Fatalf("env token: %q %v", tok, err)
	}
}
