package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/internal/oidcpeer"
)

// The independent OpenID provider: the certified npm package oidc-provider,
// configured in testdata/oidcprovider/server.mjs (shared with the CLI's
// interoperability test), started with OIDC_PEER_FEDERATION so it has a
// confidential web client, a groups claim and a control endpoint.
const peerDir = "../../testdata/oidcprovider"

const peerServerURL = "http://127.0.0.1:9" // the CodeSync server; never contacted

type peer struct {
	issuer string
	secret string
}

// startPeer starts oidc-provider on 127.0.0.1. Without Node.js the test
// skips, except in CI (CI=true), where it fails.
func startPeer(t *testing.T) *peer {
	t.Helper()
	p := &peer{secret: randomString(24)}
	fed, _ := json.Marshal(map[string]any{
		"client_id":     "codesync-server",
		"client_secret": p.secret,
		"redirect_uris": []string{RedirectURI(peerServerURL, "peer")},
	})
	p.issuer = oidcpeer.Start(t, peerDir, "OIDC_PEER_FEDERATION="+string(fed))
	return p
}

// setAccount sets an account's groups (or disables it) at the provider.
func (p *peer) setAccount(t *testing.T, id string, groups []string, disabled bool) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"groups": groups, "disabled": disabled})
	req, _ := http.NewRequest(http.MethodPut, p.issuer+"/test/accounts/"+id, bytes.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("setting account %s: HTTP %d", id, res.StatusCode)
	}
}

// revoke revokes a token at the provider's revocation endpoint (RFC 7009).
func (p *peer) revoke(t *testing.T, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.issuer+"/token/revocation",
		strings.NewReader(url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("codesync-server", p.secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revocation: HTTP %d", res.StatusCode)
	}
}

// config is the server configuration file a server would read, with the
// client secret in an environment variable.
func (p *peer) config(t *testing.T, issuer string) *Config {
	t.Helper()
	yml := `
identity_providers:
  - id: peer
    type: oidc
    name: Peer SSO
    issuer: ` + issuer + `
    client_id: codesync-server
    client_secret_env: PEER_SECRET
    scopes: [openid, profile, email, groups, offline_access]
    groups_claim: groups
    recheck: 1m
mappings:
  - provider: peer
    group: platform-team
    org: acme-corp
    role: admin
    max_scopes: [registry:read, keys:read, keys:write]
  - provider: peer
    group: everyone
    org: acme-corp
    role: member
    max_scopes: [registry:read]
`
	cfg, err := Parse([]byte(yml), Env{
		LookupEnv: func(k string) (string, bool) {
			if k == "PEER_SECRET" {
				return p.secret, true
			}
			return "", false
		},
		ReadFile: os.ReadFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// signInUpstream opens authURL as a person in a browser would (plain HTTP
// with a cookie jar), submits oidc-provider's development sign-in (any
// password) and consent forms, and returns the URL the provider redirects
// the browser to on the CodeSync server (the callback), without following
// it.
func signInUpstream(t *testing.T, authURL, login string) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), peerServerURL+"/") {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	res, err := hc.Get(authURL)
	for i := 0; ; i++ {
		if err != nil {
			t.Fatalf("browsing %s: %v", authURL, err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode/100 == 3 && strings.HasPrefix(loc, peerServerURL+"/") {
			u, _ := url.Parse(loc)
			return u
		}
		m := formRE.FindSubmatch(page)
		if m == nil || i == 10 {
			t.Fatalf("the provider did not redirect to the callback; last page (HTTP %d):\n%s", res.StatusCode, page)
		}
		form := url.Values{}
		for _, in := range hiddenRE.FindAllSubmatch(m[2], -1) {
			form.Set(string(in[1]), string(in[2]))
		}
		if bytes.Contains(m[2], []byte(`name="login"`)) {
			form.Set("login", login)
			form.Set("password", "any password")
		}
		action, perr := res.Request.URL.Parse(string(m[1]))
		if perr != nil {
			t.Fatalf("form action %q", m[1])
		}
		res, err = hc.PostForm(action.String(), form)
	}
}

// login runs a full sign-in of login at the peer through flow.
func login(t *testing.T, flow *Flow, p Provider, who, ret string) (CallbackResult, error) {
	t.Helper()
	ctx := context.Background()
	authURL, binding, err := flow.Start(ctx, p, ret)
	if err != nil {
		t.Fatal(err)
	}
	cb := signInUpstream(t, authURL, who)
	if cb.Path != "/auth/callback/"+p.ID() {
		t.Fatalf("callback path %q", cb.Path)
	}
	return flow.Callback(ctx, p, cb.Query(), binding)
}

// TestOIDCPeerSignInRecheckAndMapping is the federation round trip against
// an OpenID provider this project did not write: sign-in with PKCE, state
// and nonce gives the identity with its groups, mapped to an organization
// role; the group removed upstream shows at the next Recheck and the diff
// removes the membership; a disabled account cannot recheck.
func TestOIDCPeerSignInRecheckAndMapping(t *testing.T) {
	pr := startPeer(t)
	cfg := pr.config(t, pr.issuer)
	providers, err := NewProviders(cfg, Options{ServerURL: peerServerURL})
	if err != nil {
		t.Fatal(err)
	}
	p := providers.Get("peer")
	flow := &Flow{Store: NewMemoryStateStore()}
	pr.setAccount(t, "alice", []string{"platform-team", "everyone"}, false)

	res, err := login(t, flow, p, "alice", "/device?user_code=BCDF-GHJK")
	if err != nil {
		t.Fatal(err)
	}
	id := res.Identity
	if id.Provider != "peer" || id.Subject != "alice" || id.Username != "alice" || id.Email != "alice@peer.example" {
		t.Fatalf("identity %+v", id)
	}
	if !slices.Equal(id.Groups, []string{"platform-team", "everyone"}) {
		t.Fatalf("groups %q", id.Groups)
	}
	if res.Return != "/device?user_code=BCDF-GHJK" {
		t.Fatalf("return %q", res.Return)
	}
	if res.RefreshToken == "" {
		t.Fatal("no upstream refresh token")
	}
	if p.RecheckInterval() != time.Minute {
		t.Fatalf("recheck %v", p.RecheckInterval())
	}

	desired := cfg.Resolve("peer", id.Groups)
	if desired.Memberships["acme-corp"] != RoleAdmin || !desired.ScopesLimited ||
		!slices.Equal(desired.MaxScopes, []string{"keys:read", "keys:write", "registry:read"}) {
		t.Fatalf("desired %+v", desired)
	}
	changes := Diff("peer", nil, desired)
	if len(changes) != 1 || changes[0] != (Change{Kind: ChangeAdd, Org: "acme-corp", Role: RoleAdmin, Source: "peer"}) {
		t.Fatalf("changes at sign-in %+v", changes)
	}
	current := []Membership{{Org: "acme-corp", Role: RoleAdmin, Source: "peer"}}

	// The server keeps the refresh token sealed.
	sealer, err := NewTokenSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := sealer.Seal(id.Provider, id.Subject, res.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}

	// Removed from platform-team upstream: the next recheck demotes.
	pr.setAccount(t, "alice", []string{"everyone"}, false)
	rt, err := sealer.Open(id.Provider, id.Subject, stored)
	if err != nil {
		t.Fatal(err)
	}
	id2, rt2, err := p.Recheck(context.Background(), "alice", rt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(id2.Groups, []string{"everyone"}) || id2.Subject != "alice" {
		t.Fatalf("identity after recheck %+v", id2)
	}
	if rt2 == "" || rt2 == rt {
		t.Fatal("the provider rotates refresh tokens: Recheck must return the new one")
	}
	changes = Diff("peer", current, cfg.Resolve("peer", id2.Groups))
	if len(changes) != 1 || changes[0] != (Change{Kind: ChangeRole, Org: "acme-corp", Role: RoleMember, OldRole: RoleAdmin, Source: "peer"}) {
		t.Fatalf("changes after demotion %+v", changes)
	}
	current = []Membership{{Org: "acme-corp", Role: RoleMember, Source: "peer"}}

	// Removed from every mapped group: the membership goes.
	pr.setAccount(t, "alice", []string{"sales"}, false)
	id3, rt3, err := p.Recheck(context.Background(), "alice", rt2)
	if err != nil {
		t.Fatal(err)
	}
	d3 := cfg.Resolve("peer", id3.Groups)
	changes = Diff("peer", current, d3)
	if len(changes) != 1 || changes[0] != (Change{Kind: ChangeRemove, Org: "acme-corp", OldRole: RoleMember, Source: "peer"}) {
		t.Fatalf("changes after removal %+v", changes)
	}
	if d3.ScopesLimited || len(d3.Memberships) != 0 {
		t.Fatalf("desired with no matching group %+v", d3)
	}

	// The refresh token belongs to alice: asked for another subject, refused.
	if _, _, err := p.Recheck(context.Background(), "mallory", rt3); !errors.Is(err, ErrDenied) {
		t.Fatalf("recheck for another subject: %v", err)
	}
	// (That refresh consumed rt3: oidc-provider rotates even when we refuse.)

	// Disabled upstream: the refresh is refused.
	pr.setAccount(t, "alice", []string{"platform-team"}, false)
	res, err = login(t, flow, p, "alice", "/")
	if err != nil {
		t.Fatal(err)
	}
	pr.setAccount(t, "alice", []string{"platform-team"}, true)
	_, _, err = p.Recheck(context.Background(), "alice", res.RefreshToken)
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("recheck of a disabled account: %v", err)
	}
	if !strings.Contains(err.Error(), "invalid_grant") || strings.Contains(err.Error(), res.RefreshToken) {
		t.Fatalf("error %q: want the OAuth code and no token", err)
	}
}

// TestOIDCPeerRevokedRefreshToken: a refresh token revoked upstream cannot
// recheck.
func TestOIDCPeerRevokedRefreshToken(t *testing.T) {
	pr := startPeer(t)
	cfg := pr.config(t, pr.issuer)
	providers, _ := NewProviders(cfg, Options{ServerURL: peerServerURL})
	p := providers.Get("peer")
	flow := &Flow{Store: NewMemoryStateStore()}
	pr.setAccount(t, "bob", []string{"everyone"}, false)
	res, err := login(t, flow, p, "bob", "/")
	if err != nil {
		t.Fatal(err)
	}
	pr.revoke(t, res.RefreshToken)
	if _, _, err := p.Recheck(context.Background(), "bob", res.RefreshToken); !errors.Is(err, ErrDenied) {
		t.Fatalf("recheck with a revoked refresh token: %v", err)
	}
	if _, _, err := p.Recheck(context.Background(), "bob", ""); !errors.Is(err, ErrNoRefreshToken) {
		t.Fatalf("recheck without a refresh token: %v", err)
	}
}

// nonceSwap is a StateStore that hands back a different nonce, as if the
// ID token came from another sign-in (an injected or replayed code).
type nonceSwap struct{ StateStore }

func (s nonceSwap) Take(ctx context.Context, state string) (PendingLogin, error) {
	p, err := s.StateStore.Take(ctx, state)
	p.Nonce = "another-sign-in-" + p.Nonce
	return p, err
}

// TestOIDCPeerRefusals: a wrong nonce, a wrong or replayed state, a
// callback in another browser, and an issuer that is not the provider's are
// all refused.
func TestOIDCPeerRefusals(t *testing.T) {
	pr := startPeer(t)
	cfg := pr.config(t, pr.issuer)
	providers, _ := NewProviders(cfg, Options{ServerURL: peerServerURL})
	p := providers.Get("peer")
	ctx := context.Background()

	t.Run("nonce", func(t *testing.T) {
		flow := &Flow{Store: nonceSwap{NewMemoryStateStore()}}
		_, err := login(t, flow, p, "carol", "/")
		if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "nonce") {
			t.Fatalf("wrong nonce: %v", err)
		}
	})

	t.Run("state", func(t *testing.T) {
		flow := &Flow{Store: NewMemoryStateStore()}
		authURL, binding, err := flow.Start(ctx, p, "/")
		if err != nil {
			t.Fatal(err)
		}
		cb := signInUpstream(t, authURL, "carol")
		q := cb.Query()
		forged := url.Values{"code": {q.Get("code")}, "state": {"forged-" + q.Get("state")}}
		if _, err := flow.Callback(ctx, p, forged, binding); !errors.Is(err, ErrStateUnknown) {
			t.Fatalf("forged state: %v", err)
		}
		noState := url.Values{"code": {q.Get("code")}}
		if _, err := flow.Callback(ctx, p, noState, binding); !errors.Is(err, ErrStateUnknown) {
			t.Fatalf("no state: %v", err)
		}
		if _, err := flow.Callback(ctx, p, q, "another browser"); !errors.Is(err, ErrStateMismatch) {
			t.Fatalf("callback in another browser: %v", err)
		}
		// That attempt used the state up: the right browser cannot replay it.
		if _, err := flow.Callback(ctx, p, q, binding); !errors.Is(err, ErrStateUnknown) {
			t.Fatalf("replayed state: %v", err)
		}
	})

	t.Run("replayed callback", func(t *testing.T) {
		flow := &Flow{Store: NewMemoryStateStore()}
		authURL, binding, err := flow.Start(ctx, p, "/")
		if err != nil {
			t.Fatal(err)
		}
		cb := signInUpstream(t, authURL, "carol")
		if _, err := flow.Callback(ctx, p, cb.Query(), binding); err != nil {
			t.Fatal(err)
		}
		if _, err := flow.Callback(ctx, p, cb.Query(), binding); !errors.Is(err, ErrStateUnknown) {
			t.Fatalf("replayed callback: %v", err)
		}
	})

	t.Run("code with another verifier", func(t *testing.T) {
		flow := &Flow{Store: NewMemoryStateStore()}
		authURL, _, err := flow.Start(ctx, p, "/")
		if err != nil {
			t.Fatal(err)
		}
		cb := signInUpstream(t, authURL, "carol")
		if _, _, err := p.Exchange(ctx, cb.Query().Get("code"), "wrong-verifier-wrong-verifier-wrong-verifier-00", "n"); !errors.Is(err, ErrDenied) {
			t.Fatalf("PKCE: %v", err)
		}
	})

	t.Run("issuer", func(t *testing.T) {
		// The same provider reached under another name: its discovery
		// document names 127.0.0.1, not localhost, so it is refused.
		other := strings.Replace(pr.issuer, "127.0.0.1", "localhost", 1)
		cfg := pr.config(t, other)
		providers, _ := NewProviders(cfg, Options{ServerURL: peerServerURL})
		flow := &Flow{Store: NewMemoryStateStore()}
		_, _, err := flow.Start(ctx, providers.Get("peer"), "/")
		if err == nil || !strings.Contains(err.Error(), "issuer") {
			t.Fatalf("wrong issuer: %v", err)
		}
	})
}
