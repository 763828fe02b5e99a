package federation

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestValidateReturn(t *testing.T) {
	for _, ok := range []string{"/", "/device", "/device?user_code=BCDF-GHJK", "/oauth/authorize?client_id=codesync-cli&state=x%20y", "/orgs/acme#members"} {
		if got, err := ValidateReturn(ok); err != nil || got != ok {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	if got, _ := ValidateReturn(""); got != "/" {
		t.Errorf("empty return: %q", got)
	}
	for _, bad := range []string{
		"https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example", "evil.example",
		"javascript:alert(1)", "/x\r\nLocation: https://evil.example", "/a b", "/\tx", "http:/evil.example",
		"/" + strings.Repeat("a", 3000), "///evil.example",
	} {
		if _, err := ValidateReturn(bad); !errors.Is(err, ErrBadReturn) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// scripted is a Provider for the Flow's own tests: it records what Flow
// passes and returns a fixed identity. The providers themselves are tested
// against oidc-provider and the recorded GitHub fake.
type scripted struct {
	id                      string
	gotCode, gotVer, gotNon string
	authState, authNonce    string
	authChallengeVerifier   string
}

func (s *scripted) ID() string                     { return s.id }
func (s *scripted) Name() string                   { return s.id }
func (s *scripted) RecheckInterval() time.Duration { return time.Minute }
func (s *scripted) AuthURL(_ context.Context, state, nonce, verifier string) (string, error) {
	s.authState, s.authNonce, s.authChallengeVerifier = state, nonce, verifier
	sum := sha256.Sum256([]byte(verifier))
	return "https://idp.example/authorize?" + url.Values{"state": {state}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}}.Encode(), nil
}
func (s *scripted) Exchange(_ context.Context, code, verifier, nonce string) (Identity, string, error) {
	s.gotCode, s.gotVer, s.gotNon = code, verifier, nonce
	return Identity{Provider: s.id, Subject: "sub-1"}, "rt", nil
}
func (s *scripted) Recheck(context.Context, string, string) (Identity, string, error) {
	return Identity{}, "", ErrDenied
}

func TestFlow(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	flow := &Flow{Store: NewMemoryStateStore(), Now: func() time.Time { return now }}
	p := &scripted{id: "sso"}

	start := func() (url.Values, string) {
		t.Helper()
		u, binding, err := flow.Start(ctx, p, "/device")
		if err != nil {
			t.Fatal(err)
		}
		pu, _ := url.Parse(u)
		return url.Values{"state": {pu.Query().Get("state")}, "code": {"c0de"}}, binding
	}

	t.Run("success passes the verifier and nonce of the start", func(t *testing.T) {
		q, binding := start()
		if len(p.authState) < 40 || len(p.authNonce) < 40 || len(p.authChallengeVerifier) < 43 || len(binding) < 40 {
			t.Fatalf("weak values: %q %q %q %q", p.authState, p.authNonce, p.authChallengeVerifier, binding)
		}
		res, err := flow.Callback(ctx, p, q, binding)
		if err != nil {
			t.Fatal(err)
		}
		if p.gotCode != "c0de" || p.gotVer != p.authChallengeVerifier || p.gotNon != p.authNonce || res.Return != "/device" || res.RefreshToken != "rt" {
			t.Fatalf("exchange got %q %q %q, result %+v", p.gotCode, p.gotVer, p.gotNon, res)
		}
	})

	t.Run("expired", func(t *testing.T) {
		q, binding := start()
		now = now.Add(DefaultStateTTL + time.Second)
		defer func() { now = now.Add(-DefaultStateTTL - time.Second) }()
		if _, err := flow.Callback(ctx, p, q, binding); !errors.Is(err, ErrStateExpired) {
			t.Fatalf("expired: %v", err)
		}
	})

	t.Run("another provider's callback", func(t *testing.T) {
		q, binding := start()
		if _, err := flow.Callback(ctx, &scripted{id: "evil"}, q, binding); !errors.Is(err, ErrStateMismatch) {
			t.Fatalf("provider mismatch: %v", err)
		}
		if _, err := flow.Callback(ctx, p, q, binding); !errors.Is(err, ErrStateUnknown) {
			t.Fatalf("state reusable after a refused callback: %v", err)
		}
	})

	t.Run("upstream error", func(t *testing.T) {
		q, binding := start()
		q.Del("code")
		q.Set("error", "access_denied")
		q.Set("error_description", "The user\ncancelled")
		_, err := flow.Callback(ctx, p, q, binding)
		var ue *UpstreamError
		if !errors.As(err, &ue) || ue.Code != "access_denied" || strings.Contains(err.Error(), "\n") {
			t.Fatalf("upstream error: %v", err)
		}
	})

	t.Run("no code", func(t *testing.T) {
		q, binding := start()
		q.Del("code")
		if _, err := flow.Callback(ctx, p, q, binding); err == nil {
			t.Fatal("callback without code accepted")
		}
	})

	t.Run("unknown provider", func(t *testing.T) {
		if _, _, err := flow.Start(ctx, nil, "/"); !errors.Is(err, ErrUnknownProvider) {
			t.Fatalf("start: %v", err)
		}
		if _, err := flow.Callback(ctx, nil, url.Values{"state": {"x"}}, "b"); !errors.Is(err, ErrUnknownProvider) {
			t.Fatalf("callback: %v", err)
		}
	})

	t.Run("bad return refused at start", func(t *testing.T) {
		if _, _, err := flow.Start(ctx, p, "https://evil.example/"); !errors.Is(err, ErrBadReturn) {
			t.Fatalf("bad return: %v", err)
		}
	})
}

func TestMemoryStateStoreDropsExpired(t *testing.T) {
	s := NewMemoryStateStore()
	now := time.Now()
	s.now = func() time.Time { return now }
	ctx := context.Background()
	s.Put(ctx, PendingLogin{State: "old", Expires: now.Add(time.Minute)})
	now = now.Add(3 * time.Minute)
	s.Put(ctx, PendingLogin{State: "new", Expires: now.Add(time.Minute)})
	if _, ok := s.m["old"]; ok || len(s.m) != 1 {
		t.Fatalf("store %v", s.m)
	}
}
