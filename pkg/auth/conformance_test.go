package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/auth"
)

// fakeAS is a scripted authorization server on loopback: metadata, device
// authorization, authorize redirect, token and revocation endpoints. Each
// test changes the parts it is about.
type fakeAS struct {
	*httptest.Server
	mu       sync.Mutex
	meta     map[string]any // merged over the defaults; nil values delete
	oidcOnly bool           // no RFC 8414 document: 404
	// token answers a POST to /token
	token func(form url.Values) (int, map[string]any)
	// redirect builds the authorization response for /authorize
	redirect func(q url.Values) url.Values
	reqs     []string // "METHOD /path"
	forms    []url.Values
	agents   []string
}

const (
	fakeDeviceCode = "dc-SECRET-device-code-0123456789"
	fakeAccess     = "at-SECRET-access-token-0123456789"
	fakeRefresh    = "rt-SECRET-refresh-token-0123456789"
	fakeCode       = "ac-SECRET-auth-code-0123456789"
)

func newFakeAS(t *testing.T) *fakeAS {
	t.Helper()
	f := &fakeAS{
		token: func(url.Values) (int, map[string]any) {
			return 200, map[string]any{"access_token": fakeAccess, "refresh_token": fakeRefresh, "token_type": "Bearer", "expires_in": 3600}
		},
		redirect: func(q url.Values) url.Values {
			return url.Values{"code": {fakeCode}, "state": {q.Get("state")}}
		},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAS) metadata() map[string]any {
	m := map[string]any{
		"issuer":                        f.URL,
		"authorization_endpoint":        f.URL + "/authorize",
		"token_endpoint":                f.URL + "/token",
		"device_authorization_endpoint": f.URL + "/device/code",
		"revocation_endpoint":           f.URL + "/revoke",
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.meta {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func (f *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path)
	f.forms = append(f.forms, r.PostForm)
	f.agents = append(f.agents, r.UserAgent())
	oidcOnly := f.oidcOnly
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/.well-known/oauth-authorization-server" && !oidcOnly,
		r.URL.Path == "/.well-known/openid-configuration":
		json.NewEncoder(w).Encode(f.metadata())
	case r.URL.Path == "/device/code":
		json.NewEncoder(w).Encode(map[string]any{"device_code": fakeDeviceCode, "user_code": "BCDF-GHJK", "verification_uri": f.URL + "/device", "expires_in": 600, "interval": 5})
	case r.URL.Path == "/token":
		status, body := f.token(r.PostForm)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	case r.URL.Path == "/authorize":
		u, _ := url.Parse(r.URL.Query().Get("redirect_uri"))
		u.RawQuery = f.redirect(r.URL.Query()).Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	case r.URL.Path == "/revoke":
		w.WriteHeader(200)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":"not_found"}`)
	}
}

// count returns how many requests went to path.
func (f *fakeAS) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.reqs {
		if strings.HasSuffix(r, " "+path) {
			n++
		}
	}
	return n
}

func (f *fakeAS) set(k string, v any) {
	f.mu.Lock()
	f.meta = mapWith(f.meta, k, v)
	f.mu.Unlock()
}

func mapWith(m map[string]any, k string, v any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	m[k] = v
	return m
}

func client(t *testing.T, base string, debug io.Writer) *api.Client {
	t.Helper()
	c, err := api.New(api.Options{BaseURL: base, UserAgent: "codesync-cli/1.2.3-test", Debug: debug})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func noEnv(string) string { return "" }

// deviceLogin runs the device flow against f with a fake clock; it returns
// the token, the error and the waits between polls.
func deviceLogin(t *testing.T, f *fakeAS, debug io.Writer, stderr io.Writer) (*oauth2.Token, []time.Duration, error) {
	t.Helper()
	p, err := auth.NewProvider(context.Background(), client(t, f.URL, debug), "")
	if err != nil {
		return nil, nil, err
	}
	clk := &fakeClock{t: time.Now()}
	var waits []time.Duration
	tok, err := auth.DeviceFlow(context.Background(), p.Metadata, auth.FlowOptions{
		HTTPClient: p.HTTPClient(), Stderr: stderr, Getenv: noEnv, Now: clk.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			if len(waits) > 200 {
				return errors.New("polled forever")
			}
			return clk.Sleep(ctx, d)
		},
	})
	return tok, waits, err
}

// Item 1 (RFC 8414 §3.3): metadata naming another issuer is refused before
// anything else happens.
func TestDiscoveryRefusesAnotherIssuer(t *testing.T) {
	f := newFakeAS(t)
	f.set("issuer", "https://issuer.invalid")
	_, err := auth.Discover(context.Background(), client(t, f.URL, nil))
	var me *auth.MetadataError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "https://issuer.invalid") || !strings.Contains(err.Error(), "oauth_issuer") {
		t.Fatalf("want the issuer refused, got %v", err)
	}
	// no device authorization, no token request: nothing was started
	if _, _, err := deviceLogin(t, f, nil, io.Discard); !errors.As(err, &me) {
		t.Fatalf("device login went on: %v", err)
	}
	if n := f.count("/device/code") + f.count("/token"); n != 0 {
		t.Fatalf("%d OAuth requests after a wrong issuer", n)
	}
	// a mix-up: the metadata names another, self-consistent server (issuer
	// and endpoints on another origin): only the issuer check stops it
	evil := newFakeAS(t)
	for k, v := range evil.metadata() {
		f.set(k, v)
	}
	if _, err := auth.Discover(context.Background(), client(t, f.URL, nil)); !errors.As(err, &me) || !strings.Contains(err.Error(), "names the issuer") {
		t.Fatalf("metadata naming another server accepted: %v", err)
	}
	if len(evil.reqs) != 0 {
		t.Fatalf("the other server was contacted: %v", evil.reqs)
	}
	f.meta = nil
	// the profile may name the issuer explicitly: then that one must match
	f.set("issuer", f.URL)
	other := newFakeAS(t)
	if _, err := auth.NewProvider(context.Background(), client(t, other.URL, nil), f.URL); err != nil {
		t.Fatalf("the configured issuer %s was refused: %v", f.URL, err)
	}
	if other.count("/.well-known/oauth-authorization-server") != 0 {
		t.Fatal("with oauth_issuer set, the metadata must come from the issuer")
	}
	// a trailing slash does not make another issuer
	f.set("issuer", f.URL+"/")
	if _, err := auth.Discover(context.Background(), client(t, f.URL, nil)); err != nil {
		t.Fatalf("issuer with a trailing slash: %v", err)
	}
}

// Item 7: a provider that serves only OpenID Connect Discovery works, with
// the same issuer check; an issuer with a path uses the right URLs.
func TestDiscoveryFallsBackToOpenIDConfiguration(t *testing.T) {
	f := newFakeAS(t)
	f.oidcOnly = true
	m, err := auth.Discover(context.Background(), client(t, f.URL, nil))
	if err != nil {
		t.Fatalf("OIDC-only provider: %v", err)
	}
	if m.TokenEndpoint != f.URL+"/token" || f.count("/.well-known/oauth-authorization-server") != 1 || f.count("/.well-known/openid-configuration") != 1 {
		t.Fatalf("want RFC 8414 first, then OIDC: %v %+v", f.reqs, m)
	}
	f.set("issuer", "https://issuer.invalid")
	if _, err := auth.Discover(context.Background(), client(t, f.URL, nil)); err == nil || !strings.Contains(err.Error(), "issuer.invalid") {
		t.Fatalf("OIDC document with another issuer accepted: %v", err)
	}

	// issuer with a path: /.well-known/oauth-authorization-server/tenant
	// (here a single-page app's HTML, 200), then
	// /tenant/.well-known/openid-configuration
	var paths []string
	var mu sync.Mutex
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/.well-known/oauth-authorization-server/tenant" {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!doctype html><title>app</title>")
			return
		}
		if r.URL.Path != "/tenant/.well-known/openid-configuration" {
			w.WriteHeader(404)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL + "/tenant", "token_endpoint": srv.URL + "/tenant/token"})
	}))
	defer srv.Close()
	if _, err := auth.NewProvider(context.Background(), client(t, "http://127.0.0.1:1", nil), srv.URL+"/tenant"); err != nil {
		t.Fatalf("issuer with a path: %v (requests %v)", err, paths)
	}
	if want := []string{"/.well-known/oauth-authorization-server/tenant", "/tenant/.well-known/openid-configuration"}; fmt.Sprint(paths) != fmt.Sprint(want) {
		t.Fatalf("requests %v, want %v", paths, want)
	}
	// neither document: one clear error, after the form this CLI used to
	// ask for (appended to the issuer's path)
	paths = nil
	if _, err := auth.NewProvider(context.Background(), client(t, srv.URL, nil), srv.URL+"/other"); err == nil || !strings.Contains(err.Error(), "no OAuth metadata") {
		t.Fatalf("no metadata: %v", err)
	}
	if want := []string{"/.well-known/oauth-authorization-server/other", "/other/.well-known/openid-configuration", "/other/.well-known/oauth-authorization-server"}; fmt.Sprint(paths) != fmt.Sprint(want) {
		t.Fatalf("requests %v, want %v", paths, want)
	}
}

// Item 6 and issue 12 item 8: endpoints must be on the issuer's origin and
// obey the https-or-loopback rule; nothing is sent to one that is not.
func TestEndpointsOffTheIssuersOriginAreRefused(t *testing.T) {
	foreign := newFakeAS(t) // another origin: another loopback port
	for _, c := range []struct{ key, url string }{
		{"token_endpoint", foreign.URL + "/token"},
		{"device_authorization_endpoint", foreign.URL + "/device/code"},
		{"authorization_endpoint", foreign.URL + "/authorize"},
		{"revocation_endpoint", foreign.URL + "/revoke"},
		{"token_endpoint", "http://codesync.example/token"},
		{"token_endpoint", "ftp://127.0.0.1/token"},
	} {
		f := newFakeAS(t)
		f.set(c.key, c.url)
		_, err := auth.Discover(context.Background(), client(t, f.URL, nil))
		var me *auth.MetadataError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s %s: want refused, got %v", c.key, c.url, err)
		}
	}
	// the refresh (issue 12's finding: `auth token` sent the refresh token
	// to another host), device and web flows never reach the foreign host
	f := newFakeAS(t)
	f.set("token_endpoint", foreign.URL+"/token")
	c := client(t, f.URL, nil)
	if _, err := auth.Refresh(context.Background(), c, "", &auth.Session{Type: auth.TypeOAuth, RefreshToken: fakeRefresh}); err == nil {
		t.Fatal("refresh via a foreign token endpoint succeeded")
	}
	if err := auth.Revoke(context.Background(), c, "", &auth.Session{Type: auth.TypeOAuth, RefreshToken: fakeRefresh}); err == nil {
		t.Fatal("revocation with foreign metadata succeeded")
	}
	// flows given such metadata by hand refuse it too
	m := &auth.Metadata{Issuer: f.URL, TokenEndpoint: foreign.URL + "/token", DeviceAuthorizationEndpoint: f.URL + "/device/code", AuthorizationEndpoint: f.URL + "/authorize"}
	if _, err := auth.DeviceFlow(context.Background(), m, auth.FlowOptions{HTTPClient: http.DefaultClient, Stderr: io.Discard, Getenv: noEnv}); err == nil {
		t.Fatal("device flow with a foreign token endpoint")
	}
	if _, err := auth.WebFlow(context.Background(), m, auth.FlowOptions{HTTPClient: http.DefaultClient, Stderr: io.Discard, Getenv: noEnv, NoBrowser: true}); err == nil {
		t.Fatal("web flow with a foreign token endpoint")
	}
	if n := len(foreign.reqs); n != 0 {
		t.Fatalf("the foreign host received %d requests: %v", n, foreign.reqs)
	}
	// plain http to a host that is not loopback: neither as the issuer
	// (oauth_issuer) nor for endpoints in metadata given to a flow
	var ie *api.InsecureURLError
	if _, err := auth.NewProvider(context.Background(), c, "http://login.example"); !errors.As(err, &ie) {
		t.Fatalf("plain-http issuer: %v", err)
	}
	plain := &auth.Metadata{Issuer: "http://login.example", TokenEndpoint: "http://login.example/token", DeviceAuthorizationEndpoint: "http://login.example/device"}
	var me *auth.MetadataError
	if _, err := auth.DeviceFlow(context.Background(), plain, auth.FlowOptions{HTTPClient: http.DefaultClient, Stderr: io.Discard, Getenv: noEnv}); !errors.As(err, &me) || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("device flow with plain-http endpoints: %v", err)
	}
}

// The OAuth HTTP client itself (the second line of defence) sends nothing
// off the issuer's origin and follows no redirect there.
func TestOAuthHTTPClientStaysOnTheIssuersOrigin(t *testing.T) {
	foreign := newFakeAS(t)
	f := newFakeAS(t)
	f.token = func(url.Values) (int, map[string]any) { return 200, nil }
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, foreign.URL+"/token", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	hc := client(t, f.URL, nil).OAuthHTTP()
	_, err := hc.PostForm(foreign.URL+"/token", url.Values{"refresh_token": {fakeRefresh}})
	var ee *api.EndpointError
	if !errors.As(err, &ee) {
		t.Fatalf("want EndpointError, got %v", err)
	}
	// a 307 from the issuer's own token endpoint would re-send the body
	hc = client(t, redirector.URL, nil).OAuthHTTP()
	res, err := hc.PostForm(redirector.URL+"/token", url.Values{"refresh_token": {fakeRefresh}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTemporaryRedirect || len(foreign.reqs) != 0 {
		t.Fatalf("redirect followed: %d, foreign got %v", res.StatusCode, foreign.reqs)
	}
}

// Item 2 (RFC 9207): when the server advertises iss in authorization
// responses, a response with another or no iss is refused and its code never
// exchanged; a matching iss, or none from a server that does not advertise
// it, completes.
func TestWebFlowChecksTheIssParameter(t *testing.T) {
	cases := []struct {
		name       string
		advertised bool
		iss        []string // nil: absent
		ok         bool
	}{
		{"wrong iss", true, []string{"https://evil.example"}, false},
		{"missing iss", true, nil, false},
		{"wrong iss, not advertised", false, []string{"https://evil.example"}, false},
		{"two iss", true, []string{"ISSUER", "ISSUER"}, false},
		{"right iss", true, []string{"ISSUER"}, true},
		{"no iss, not advertised", false, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeAS(t)
			f.set("authorization_response_iss_parameter_supported", c.advertised)
			f.redirect = func(q url.Values) url.Values {
				v := url.Values{"code": {fakeCode}, "state": {q.Get("state")}}
				for _, i := range c.iss {
					v.Add("iss", strings.ReplaceAll(i, "ISSUER", f.URL))
				}
				return v
			}
			_, err := webLogin(t, f, nil)
			var le *auth.LoginError
			switch {
			case c.ok && err != nil:
				t.Fatalf("want success, got %v", err)
			case !c.ok && (!errors.As(err, &le) || le.Code != "invalid_issuer"):
				t.Fatalf("want invalid_issuer, got %v", err)
			case !c.ok && f.count("/token") != 0:
				t.Fatal("the code of a refused response was exchanged")
			}
		})
	}
}

// webLogin runs the browser flow against f: the "browser" is an HTTP client
// that follows the authorize redirect to the CLI's loopback callback.
func webLogin(t *testing.T, f *fakeAS, debug io.Writer) (*oauth2.Token, error) {
	t.Helper()
	p, err := auth.NewProvider(context.Background(), client(t, f.URL, debug), "")
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		buf := make([]byte, 4096)
		var all []byte
		re := regexp.MustCompile(`(http://\S+/authorize\?\S+)`)
		for {
			n, err := pr.Read(buf)
			all = append(all, buf[:n]...)
			if m := re.FindSubmatch(all); m != nil {
				if res, err := http.Get(string(m[1])); err == nil {
					res.Body.Close()
				}
				io.Copy(io.Discard, pr)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return auth.WebFlow(context.Background(), p.Metadata, auth.FlowOptions{
		HTTPClient: p.HTTPClient(), Stderr: pw, Getenv: noEnv, NoBrowser: true, Timeout: 10 * time.Second,
	})
}

// Item 3 (RFC 8628 §3.5): three slow_down answers, then the approval: the
// client adds 5 s each time, warns about the clock once, and logs in.
func TestDeviceFlowKeepsPollingThroughSlowDown(t *testing.T) {
	f := newFakeAS(t)
	polls := 0
	f.token = func(url.Values) (int, map[string]any) {
		polls++
		if polls <= 3 {
			return 400, map[string]any{"error": "slow_down"}
		}
		return 200, map[string]any{"access_token": fakeAccess, "token_type": "Bearer", "expires_in": 3600}
	}
	var stderr bytes.Buffer
	tok, waits, err := deviceLogin(t, f, nil, &stderr)
	if err != nil || tok.AccessToken != fakeAccess {
		t.Fatalf("want the token after three slow_down, got %v", err)
	}
	want := []time.Duration{6 * time.Second, 11 * time.Second, 16 * time.Second, 21 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v (+5 s per slow_down)", waits, want)
	}
	if !strings.Contains(stderr.String(), "warning:") || !strings.Contains(stderr.String(), "clock") {
		t.Fatalf("no clock warning: %q", stderr.String())
	}
}

// A server that only ever answers slow_down: polling goes on, slower and
// slower, until the code expires.
func TestDeviceFlowSlowDownUntilTheCodeExpires(t *testing.T) {
	f := newFakeAS(t)
	f.token = func(url.Values) (int, map[string]any) { return 400, map[string]any{"error": "slow_down"} }
	_, waits, err := deviceLogin(t, f, nil, io.Discard)
	var le *auth.LoginError
	if !errors.As(err, &le) || le.Code != "expired_token" {
		t.Fatalf("want expired_token at the code's expiry, got %v", err)
	}
	var total time.Duration
	for _, w := range waits {
		total += w
	}
	if total < 600*time.Second || total > 700*time.Second {
		t.Fatalf("polled for %s, want until the 600 s expiry", total)
	}
}

// Item 4 (RFC 6749 §5.1): a token answer without expires_in has an unknown
// expiry, stored as zero, with or without a refresh token, so the session is
// used as it is rather than refreshed or declared expired.
func TestTokenWithoutExpiresInHasUnknownExpiry(t *testing.T) {
	for _, withRefresh := range []bool{false, true} {
		t.Run(fmt.Sprintf("refresh_token=%v", withRefresh), func(t *testing.T) {
			f := newFakeAS(t)
			f.token = func(url.Values) (int, map[string]any) {
				b := map[string]any{"access_token": fakeAccess, "token_type": "Bearer"}
				if withRefresh {
					b["refresh_token"] = fakeRefresh
				}
				return 200, b
			}
			for name, login := range map[string]func() (*oauth2.Token, error){
				"device": func() (*oauth2.Token, error) { tok, _, err := deviceLogin(t, f, nil, io.Discard); return tok, err },
				"web":    func() (*oauth2.Token, error) { return webLogin(t, f, nil) },
			} {
				tok, err := login()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				s := auth.SessionFromToken(tok, auth.DefaultScopes, "dev")
				if !s.Expiry.IsZero() {
					t.Fatalf("%s: stored expiry %v for a token without expires_in, want unknown (zero)", name, s.Expiry)
				}
				r := newResolver(t, s, func(context.Context, *auth.Session) (*auth.Session, error) {
					t.Fatalf("%s: refreshed a token whose expiry is unknown", name)
					return nil, nil
				})
				if got, err := r.Token(context.Background()); err != nil || got != fakeAccess {
					t.Fatalf("%s: the token is not used as it is: %q %v", name, got, err)
				}
			}
		})
	}
}

// Item 8: only Bearer tokens (any case) are accepted, in every flow.
func TestTokenTypeOtherThanBearerIsRefused(t *testing.T) {
	for _, tt := range []string{"DPoP", "mac", "N_A"} {
		f := newFakeAS(t)
		f.token = func(url.Values) (int, map[string]any) {
			return 200, map[string]any{"access_token": fakeAccess, "refresh_token": fakeRefresh, "token_type": tt, "expires_in": 60}
		}
		var le *auth.LoginError
		if _, _, err := deviceLogin(t, f, nil, io.Discard); !errors.As(err, &le) || le.Code != "unsupported_token_type" || !strings.Contains(err.Error(), tt) {
			t.Errorf("device flow, %s: %v", tt, err)
		}
		if _, err := webLogin(t, f, nil); !errors.As(err, &le) || le.Code != "unsupported_token_type" {
			t.Errorf("web flow, %s: %v", tt, err)
		}
		if _, err := auth.Refresh(context.Background(), client(t, f.URL, nil), "", &auth.Session{Type: auth.TypeOAuth, RefreshToken: fakeRefresh}); !errors.As(err, &le) || le.Code != "unsupported_token_type" {
			t.Errorf("refresh, %s: %v", tt, err)
		}
	}
	f := newFakeAS(t)
	f.token = func(url.Values) (int, map[string]any) {
		return 200, map[string]any{"access_token": fakeAccess, "token_type": "bearer", "expires_in": 60}
	}
	if tok, _, err := deviceLogin(t, f, nil, io.Discard); err != nil || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("lower-case bearer: %v", err)
	}
}

// Item 5: device authorization, polls, code exchange, refresh and
// revocation appear in the --debug trace with the CLI's User-Agent, and no
// code, verifier or token in clear.
func TestOAuthTrafficIsTracedAndRedacted(t *testing.T) {
	f := newFakeAS(t)
	var trace bytes.Buffer
	if _, _, err := deviceLogin(t, f, &trace, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := webLogin(t, f, &trace); err != nil {
		t.Fatal(err)
	}
	c := client(t, f.URL, &trace)
	if _, err := auth.Refresh(context.Background(), c, "", &auth.Session{Type: auth.TypeOAuth, RefreshToken: fakeRefresh}); err != nil {
		t.Fatal(err)
	}
	if err := auth.Revoke(context.Background(), c, "", &auth.Session{Type: auth.TypeOAuth, RefreshToken: fakeRefresh}); err != nil {
		t.Fatal(err)
	}
	out := trace.String()
	for _, want := range []string{
		"> POST " + f.URL + "/device/code",
		"> POST " + f.URL + "/token",
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
		"grant_type=authorization_code",
		"grant_type=refresh_token",
		"> POST " + f.URL + "/revoke",
		"User-Agent: codesync-cli/1.2.3-test",
		`"access_token":"[REDACTED]"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the trace lacks %q", want)
		}
	}
	for _, secret := range []string{fakeDeviceCode, fakeAccess, fakeRefresh, fakeCode} {
		if strings.Contains(out, secret) {
			t.Errorf("the trace shows the secret %q", secret)
		}
	}
	if m := regexp.MustCompile(`code_verifier=[^&\s\[]+`).FindString(out); m != "" {
		t.Errorf("the trace shows the PKCE verifier: %s", m)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ua := range f.agents {
		if f.reqs[i] == "GET /authorize" {
			continue // the browser's request
		}
		if ua != "codesync-cli/1.2.3-test" {
			t.Errorf("%s went out with User-Agent %q", f.reqs[i], ua)
		}
	}
}
