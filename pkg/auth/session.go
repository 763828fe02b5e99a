// Package auth decides which credential a command uses (CODESYNC_AUTH_TOKEN, or
// the stored session of the profile and server), keeps stored sessions fresh,
// and runs the OAuth login flows.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gofrs/flock"

	"github.com/codesync/codesync-cli/pkg/credstore"
)

// Token types, as `auth status` and whoami name them.
const (
	TypeOAuth  = "oauth"
	TypeAPIKey = "api_key"
	TypeJWT    = "jwt"
)

// Session is what the credential store holds for one profile and server. Kept
// small: Windows' credential manager takes 2.5 KB at most.
type Session struct {
	Type         string    `json:"type"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
	User         string    `json:"user,omitempty"`
}

// ErrNotLoggedIn: no credential anywhere.
var ErrNotLoggedIn = errors.New("not logged in")

// SessionExpiredError: the stored session cannot be refreshed any more.
type SessionExpiredError struct{ Reason string }

func (e *SessionExpiredError) Error() string {
	return "the stored session has expired and cannot be refreshed: " + e.Reason
}

// Account is the keyring user: <profile>@<host:port>.
func Account(profile, server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return profile + "@" + server
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "http" {
			host += ":80"
		} else {
			host += ":443"
		}
	}
	return profile + "@" + host
}

// Refresher exchanges a session's refresh token for a new session.
type Refresher func(ctx context.Context, s *Session) (*Session, error)

// Resolver finds the credential of one invocation.
type Resolver struct {
	EnvToken  string // CODESYNC_AUTH_TOKEN; when set the store is never touched
	Store     func() (credstore.Store, error)
	Account   string
	LockPath  string // <config dir>/<profile>.lock
	Refresher Refresher
	Now       func() time.Time
}

// RefreshMargin: a token expiring within this is refreshed before use.
const RefreshMargin = 60 * time.Second

// Source names where the credential comes from: env, keyring or file.
func (r *Resolver) Source() (string, error) {
	if r.EnvToken != "" {
		return "env", nil
	}
	st, err := r.Store()
	if err != nil {
		return "", err
	}
	return st.Kind(), nil
}

// Load returns the stored session (not the environment token).
func (r *Resolver) Load() (*Session, error) {
	st, err := r.Store()
	if err != nil {
		return nil, err
	}
	raw, err := st.Get(r.Account)
	if errors.Is(err, credstore.ErrNotFound) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, err
	}
	var s Session
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.AccessToken == "" {
		return nil, &SessionExpiredError{Reason: "the stored session is unreadable"}
	}
	return &s, nil
}

// Save stores s for the account.
func (r *Resolver) Save(s *Session) error {
	st, err := r.Store()
	if err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return st.Set(r.Account, string(b))
}

// Delete removes the stored session; nothing stored is not an error.
func (r *Resolver) Delete() error {
	st, err := r.Store()
	if err != nil {
		return err
	}
	if err := st.Delete(r.Account); err != nil && !errors.Is(err, credstore.ErrNotFound) {
		return err
	}
	return nil
}

// Token returns the access token to send, refreshing a stored OAuth session
// that expires within RefreshMargin.
func (r *Resolver) Token(ctx context.Context) (string, error) {
	if r.EnvToken != "" {
		return r.EnvToken, nil
	}
	s, err := r.Session(ctx)
	if err != nil {
		return "", err
	}
	return s.AccessToken, nil
}

// Session returns the stored session, refreshed if needed.
func (r *Resolver) Session(ctx context.Context) (*Session, error) {
	s, err := r.Load()
	if err != nil {
		return nil, err
	}
	if !r.needsRefresh(s) {
		return s, nil
	}
	return r.refresh(ctx, r.needsRefresh)
}

// Reauth is called when the server refused the access token `rejected`
// with 401 invalid_token: a token whose expiry is unknown (the server sent
// no expires_in) or that was revoked early. Under the refresh lock it
// returns the stored token if another process already replaced the rejected
// one, else refreshes the session once. "" (and no error) means there is
// nothing better to send: an environment token, no refresh token, or a
// refresh the server refused (then the server's 401, which says why, is
// the answer).
func (r *Resolver) Reauth(ctx context.Context, rejected string) (string, error) {
	if r.EnvToken != "" || r.Refresher == nil {
		return "", nil
	}
	s, err := r.Load()
	if err != nil || s.Type != TypeOAuth || s.RefreshToken == "" {
		return "", nil
	}
	ns, err := r.refresh(ctx, func(s *Session) bool { return s.AccessToken == rejected })
	var se *SessionExpiredError
	if errors.As(err, &se) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ns.AccessToken, nil
}

func (r *Resolver) needsRefresh(s *Session) bool {
	return s.Type == TypeOAuth && !s.Expiry.IsZero() && r.Now().Add(RefreshMargin).After(s.Expiry)
}

// refresh takes the cross-process lock, re-reads the store (another process
// may have refreshed meanwhile) and refreshes only if still needed, so N
// concurrent invocations cause exactly one refresh.
func (r *Resolver) refresh(ctx context.Context, needed func(*Session) bool) (*Session, error) {
	if r.Refresher == nil {
		return nil, &SessionExpiredError{Reason: "no way to refresh it"}
	}
	lock := flock.New(r.LockPath)
	ok, err := lock.TryLockContext(ctx, 50*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("cannot take the lock %s: %v", r.LockPath, err)
	}
	defer lock.Unlock()
	s, err := r.Load()
	if err != nil {
		return nil, err
	}
	if !needed(s) {
		return s, nil
	}
	if s.RefreshToken == "" {
		return nil, &SessionExpiredError{Reason: "it has no refresh token"}
	}
	ns, err := r.Refresher(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := r.Save(ns); err != nil {
		return nil, err
	}
	return ns, nil
}
