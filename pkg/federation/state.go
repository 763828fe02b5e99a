package federation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/oauth2"
)

// DefaultStateTTL is how long a started upstream sign-in may take.
const DefaultStateTTL = 10 * time.Minute

// Errors of the callback. All of them mean "start the sign-in again".
var (
	ErrStateUnknown  = errors.New("federation: unknown or already used sign-in state")
	ErrStateExpired  = errors.New("federation: the sign-in took too long; start again")
	ErrStateMismatch = errors.New("federation: the sign-in was started in another browser or for another provider")
	ErrBadReturn     = errors.New("federation: return must be a path on this server")
	// ErrUnknownProvider: Start or Callback got a nil Provider (an id that
	// Providers.Get does not know); the server answers 404.
	ErrUnknownProvider = errors.New("federation: unknown identity provider")
)

// PendingLogin is what the server keeps between /auth/start and
// /auth/callback. Verifier and Nonce are secrets: keep them server-side.
type PendingLogin struct {
	State       string // random, sent upstream; the store's key
	Provider    string
	Nonce       string
	Verifier    string // PKCE code verifier
	Return      string // validated same-origin path
	BindingHash string // SHA-256 (base64url) of the browser binding cookie
	Expires     time.Time
}

// StateStore keeps pending logins. Take must return and delete atomically,
// so a state is used at most once; it returns ErrStateUnknown for a state
// it does not hold.
type StateStore interface {
	Put(ctx context.Context, p PendingLogin) error
	Take(ctx context.Context, state string) (PendingLogin, error)
}

// MemoryStateStore is a StateStore in memory (tests, a single process). It
// drops expired entries as it goes.
type MemoryStateStore struct {
	mu  sync.Mutex
	m   map[string]PendingLogin
	now func() time.Time
}

// NewMemoryStateStore returns an empty store.
func NewMemoryStateStore() *MemoryStateStore {
	return &MemoryStateStore{m: map[string]PendingLogin{}, now: time.Now}
}

// Put implements StateStore.
func (s *MemoryStateStore) Put(_ context.Context, p PendingLogin) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.m {
		if now.After(v.Expires.Add(time.Minute)) {
			delete(s.m, k)
		}
	}
	s.m[p.State] = p
	return nil
}

// Take implements StateStore.
func (s *MemoryStateStore) Take(_ context.Context, state string) (PendingLogin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[state]
	if !ok {
		return PendingLogin{}, ErrStateUnknown
	}
	delete(s.m, state)
	return p, nil
}

// Flow runs the start and callback of an upstream sign-in.
type Flow struct {
	Store StateStore
	TTL   time.Duration    // default DefaultStateTTL
	Now   func() time.Time // default time.Now
}

func (f *Flow) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func bindingHash(binding string) string {
	h := sha256.Sum256([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Start begins a sign-in at provider p that comes back to returnPath (a
// path on this server, checked by ValidateReturn). It returns the upstream
// URL to redirect the browser to, and a binding value the server must set
// as a short-lived cookie (HttpOnly, Secure on https, SameSite=Lax, Path
// /auth/callback/) and hand back to Callback: a callback in a browser that
// did not start the sign-in is refused (login CSRF).
func (f *Flow) Start(ctx context.Context, p Provider, returnPath string) (authURL, binding string, err error) {
	if p == nil {
		return "", "", ErrUnknownProvider
	}
	ret, err := ValidateReturn(returnPath)
	if err != nil {
		return "", "", err
	}
	ttl := f.TTL
	if ttl <= 0 {
		ttl = DefaultStateTTL
	}
	pl := PendingLogin{
		State:    randomString(32),
		Provider: p.ID(),
		Nonce:    randomString(32),
		Verifier: oauth2.GenerateVerifier(),
		Return:   ret,
		Expires:  f.now().Add(ttl),
	}
	binding = randomString(32)
	pl.BindingHash = bindingHash(binding)
	authURL, err = p.AuthURL(ctx, pl.State, pl.Nonce, pl.Verifier)
	if err != nil {
		return "", "", err
	}
	if err := f.Store.Put(ctx, pl); err != nil {
		return "", "", err
	}
	return authURL, binding, nil
}

// CallbackResult is a completed upstream sign-in.
type CallbackResult struct {
	Identity     Identity
	RefreshToken string // the upstream credential for Recheck; seal it before storing
	Return       string // where to send the browser
}

// UpstreamError is an error the upstream provider sent to the callback
// (for example access_denied when the person clicked "Cancel").
type UpstreamError struct {
	Code        string
	Description string
}

func (e *UpstreamError) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("federation: the identity provider answered %s: %s", e.Code, e.Description)
	}
	return "federation: the identity provider answered " + e.Code
}

// Callback completes a sign-in at provider p from the callback's query and
// the binding cookie Start returned. The state is consumed whatever the
// outcome, so it cannot be replayed.
func (f *Flow) Callback(ctx context.Context, p Provider, query url.Values, binding string) (CallbackResult, error) {
	if p == nil {
		return CallbackResult{}, ErrUnknownProvider
	}
	state := query.Get("state")
	if state == "" {
		return CallbackResult{}, ErrStateUnknown
	}
	pl, err := f.Store.Take(ctx, state)
	if err != nil {
		return CallbackResult{}, err
	}
	if f.now().After(pl.Expires) {
		return CallbackResult{}, ErrStateExpired
	}
	if pl.Provider != p.ID() || subtle.ConstantTimeCompare([]byte(pl.BindingHash), []byte(bindingHash(binding))) != 1 {
		return CallbackResult{}, ErrStateMismatch
	}
	if code := query.Get("error"); code != "" {
		return CallbackResult{}, &UpstreamError{Code: oneLine(code), Description: oneLine(query.Get("error_description"))}
	}
	code := query.Get("code")
	if code == "" {
		return CallbackResult{}, errors.New("federation: the callback has no code")
	}
	id, rt, err := p.Exchange(ctx, code, pl.Verifier, pl.Nonce)
	if err != nil {
		return CallbackResult{}, err
	}
	return CallbackResult{Identity: id, RefreshToken: rt, Return: pl.Return}, nil
}

// ValidateReturn accepts a path on this server ("/device?user_code=X",
// "/oauth/authorize?...") and refuses anything that could leave it: absolute
// or scheme-relative URLs, backslashes, control characters.
func ValidateReturn(s string) (string, error) {
	if s == "" {
		return "/", nil
	}
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') || len(s) > 2048 {
		return "", ErrBadReturn
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", ErrBadReturn
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "", ErrBadReturn
	}
	return s, nil
}
