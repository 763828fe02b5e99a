package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/federation"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// fedServer is a real server on 127.0.0.1 whose sign-in pages federate to
// oidc-provider (npm), an OpenID provider this project did not write.
type fedServer struct {
	*testServer
	issuer string // the provider's
}

const fedConfig = `
identity_providers:
  - id: peer
    type: oidc
    name: Peer SSO
    issuer: ISSUER
    client_id: codesync-server
    client_secret_file: SECRETFILE
    scopes: [openid, profile, email, groups, offline_access]
    groups_claim: groups
    recheck: 0s
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

// startFedServer starts the provider with a confidential client whose
// redirect URI is this server's /auth/callback/peer, then the server with
// the configuration file above, the organization acme-corp (owner dev),
// and access tokens short enough that every CLI command refreshes.
func startFedServer(t *testing.T, disableLocal bool) *fedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	secret := token.RandomString(32)
	client, _ := json.Marshal(map[string]any{"client_id": "codesync-server", "client_secret": secret,
		"redirect_uris": []string{federation.RedirectURI(base, "peer")}})
	issuer := startOIDCProviderWith(t, "OIDC_PEER_FEDERATION="+string(client))
	fs := serveFederated(t, ln, strings.NewReplacer("ISSUER", issuer).Replace(fedConfig), secret, disableLocal, "acme-corp")
	fs.issuer = issuer
	return fs
}

// serveFederated serves a server on ln with the configuration file cfgYAML
// (SECRETFILE: a file holding secret), the organizations orgs (owner dev)
// and access tokens short enough that every CLI command refreshes.
func serveFederated(t *testing.T, ln net.Listener, cfgYAML, secret string, disableLocal bool, orgs ...string) *fedServer {
	t.Helper()
	base := "http://" + ln.Addr().String()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "client.secret")
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	cfgFile := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfgFile, []byte(strings.ReplaceAll(cfgYAML, "SECRETFILE", secretFile)), 0o600)
	fc, err := federation.LoadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	providers, err := federation.NewProviders(fc, federation.Options{ServerURL: base})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := federation.NewTokenSealer([]byte(token.RandomString(32)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Issuer: base, DeviceInterval: time.Second, AccessTokenTTL: 30 * time.Second, DisableLocalLogin: disableLocal,
		Federation: &server.Federation{Config: fc, Providers: providers, Sealer: sealer}}, st)
	pw, tok, err := srv.BootstrapDev(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := st.UserByName(context.Background(), "dev")
	for _, o := range orgs {
		if _, err := st.CreateOrg(context.Background(), o, o, dev.ID, time.Now(),
			&store.Event{UserID: &dev.ID, Type: model.EventOrgCreated, Time: time.Now(), Actor: "dev", Detail: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return &fedServer{testServer: &testServer{URL: base, Srv: srv, Store: st, Token: tok, Password: pw}}
}

// setAccount sets an account's groups, e-mail or disabled flag at the provider.
func (fs *fedServer) setAccount(t *testing.T, id string, groups []string, disabled bool, email string) {
	t.Helper()
	v := map[string]any{"groups": groups, "disabled": disabled}
	if email != "" {
		v["email"] = email
	}
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPut, fs.issuer+"/test/accounts/"+id, bytes.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("setting account %s: HTTP %d", id, res.StatusCode)
	}
}

// role is login's role in acme-corp ("" when not a member), as the
// server's database holds it.
func (fs *fedServer) role(t *testing.T, login string) string {
	t.Helper()
	return fs.roleIn(t, login, "acme-corp", "peer")
}

// roleIn is login's role in org ("" when not a member); the membership
// must come from provider's mapping.
func (fs *fedServer) roleIn(t *testing.T, login, org, provider string) string {
	ms, err := fs.Store.MembershipsOfUser(context.Background(), mustUser(t, fs.Store, login).ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Org == org {
			if m.Source != provider {
				t.Errorf("%s's membership of %s has source %q, want %s", login, org, m.Source, provider)
			}
			return m.Role
		}
	}
	return ""
}

var (
	providerLinkRE = regexp.MustCompile(`<a class="provider" href="([^"]+)">Sign in with ([^<]+)</a>`)
	formActionRE   = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

// person is a browser: a cookie jar, plain HTTP, following redirects.
type person struct {
	t     *testing.T
	hc    *http.Client
	base  string
	login string // the account at the provider
	via   string // the label of the provider's link
}

func newPerson(t *testing.T, base, login string) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}, base: base, login: login, via: "Peer SSO"}
}

// visit opens u and acts at the provider (its development sign-in and
// consent forms) until the browser is back on a page of the server, and
// returns that page. The provider is on another port of 127.0.0.1, so
// "back" is by the server's base URL.
func (p *person) visit(u string) (string, *url.URL) {
	p.t.Helper()
	res, err := p.hc.Get(u)
	for i := 0; ; i++ {
		if err != nil {
			p.t.Fatalf("browsing %s: %v", u, err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.HasPrefix(res.Request.URL.String(), p.base+"/") || i == 10 {
			return string(page), res.Request.URL
		}
		m := formRE.FindSubmatch(page)
		if m == nil {
			p.t.Fatalf("the provider's page has no form (HTTP %d):\n%s", res.StatusCode, page)
		}
		form := url.Values{}
		for _, in := range hiddenRE.FindAllSubmatch(m[2], -1) {
			form.Set(string(in[1]), string(in[2]))
		}
		if bytes.Contains(m[2], []byte(`name="login"`)) {
			form.Set("login", p.login)
			form.Set("password", "any password")
		}
		action, perr := res.Request.URL.Parse(string(m[1]))
		if perr != nil {
			p.t.Fatalf("form action %q", m[1])
		}
		res, err = p.hc.PostForm(action.String(), form)
	}
}

// signInThroughProvider opens a sign-in page of the server, follows its
// "Sign in with Peer SSO" link and returns the page the browser is back on.
func (p *person) signInThroughProvider(pageURL string) string {
	p.t.Helper()
	page, _ := p.visit(pageURL)
	m := providerLinkRE.FindStringSubmatch(page)
	if m == nil || m[2] != p.via {
		p.t.Fatalf("no 'Sign in with %s' link on %s:\n%s", p.via, pageURL, page)
	}
	back, at := p.visit(p.base + html.UnescapeString(m[1]))
	if at.String() != pageURL {
		p.t.Fatalf("back on %s, want %s", at, pageURL)
	}
	return back
}

// approve posts the page's form with only csrf_token, user_code (device
// page) and action, as the signed-in person.
func (p *person) approve(page, userCode, action string) string {
	p.t.Helper()
	csrf, act := csrfRE.FindStringSubmatch(page), formActionRE.FindStringSubmatch(page)
	if csrf == nil || act == nil {
		p.t.Fatalf("no form on the page:\n%s", page)
	}
	form := url.Values{"csrf_token": {csrf[1]}, "action": {action}}
	if userCode != "" {
		form.Set("user_code", userCode)
	}
	res, err := p.hc.PostForm(p.base+html.UnescapeString(act[1]), form)
	if err != nil {
		p.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return string(body)
}

type statusJSON struct {
	User     string   `json:"user"`
	Scopes   []string `json:"scopes"`
	Provider *string  `json:"provider"`
}

func authStatus(t *testing.T, env []string) (statusJSON, int, string) {
	t.Helper()
	out, se, ex := runCLI(t, env, "", "auth", "status", "-o", "json")
	var st statusJSON
	if ex == 0 {
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("auth status: %v %s", err, out)
		}
	}
	return st, ex, se
}

// TestFederatedDeviceLoginMappingRecheckAndDisable: `login --device`
// through oidc-provider with a group mapped to an organization role; the
// session's scopes stay within the mapping's max_scopes; a group removed
// upstream takes effect at the next refresh; a disabled upstream account
// cannot refresh (invalid_grant, exit 4).
func TestFederatedDeviceLoginMappingRecheckAndDisable(t *testing.T) {
	fs := startFedServer(t, false)
	fs.setAccount(t, "alice", []string{"platform-team", "everyone"}, false, "")
	cfgDir := t.TempDir()
	env := []string{"CODESYNC_SERVER=" + fs.URL, "CODESYNC_CONFIG_DIR=" + cfgDir, "CODESYNC_KEYRING=file"}
	code, done := startLogin(t, env, "--device", "--scopes", "keys:read,keys:write,registry:read,registry:publish")

	alice := newPerson(t, fs.URL, "alice")
	page := alice.signInThroughProvider(fs.URL + "/device?user_code=" + code)
	if !strings.Contains(page, "Signed in as <strong>alice</strong> with Peer SSO") || strings.Contains(page, `name="password"`) {
		t.Fatalf("the device page after the sign-in should ask only to approve:\n%s", page)
	}
	// the page shows what the mapping lets alice grant, not registry:publish
	if strings.Contains(page, "<code>registry:publish</code>") || !strings.Contains(page, "<code>keys:write</code>") {
		t.Fatalf("the device page shows scopes beyond max_scopes:\n%s", page)
	}
	if res := alice.approve(page, code, "approve"); !strings.Contains(res, "Device connected") {
		t.Fatalf("approval: %s", res)
	}
	if exit, stderr := waitExit(t, done); exit != "0" || !strings.Contains(stderr, "Logged in to "+fs.URL+" as alice") {
		t.Fatalf("login --device: exit %s\n%s", exit, stderr)
	}
	// the tokens issued at login hold only the scopes within max_scopes
	if got := storedSession(t, cfgDir, fs.URL).Scopes; !slices.Equal(got, []string{"keys:read", "keys:write", "registry:read"}) {
		t.Fatalf("the login's session holds %q, want the requested scopes within max_scopes", got)
	}
	st, ex, se := authStatus(t, env)
	if ex != 0 || st.User != "alice" || st.Provider == nil || *st.Provider != "peer" {
		t.Fatalf("auth status: %d %+v %s", ex, st, se)
	}
	if !slices.Equal(st.Scopes, []string{"keys:read", "keys:write", "registry:read"}) {
		t.Fatalf("the session holds %q, want the requested scopes within max_scopes", st.Scopes)
	}
	if r := fs.role(t, "alice"); r != "admin" {
		t.Fatalf("alice's role in acme-corp: %q, want admin (platform-team)", r)
	}
	// a key beyond the session: refused (exit 5)
	if _, se, ex := runCLI(t, env, "", "key", "create", "pub", "--scopes", "registry:publish", "--expires", "1d"); ex != 5 {
		t.Fatalf("key create beyond max_scopes: exit %d %s", ex, se)
	}
	if _, se, ex := runCLI(t, env, "", "key", "create", "ok", "--scopes", "registry:read", "--expires", "1d"); ex != 0 {
		t.Fatalf("key create within max_scopes: exit %d %s", ex, se)
	}

	// removed from platform-team upstream: the next refresh demotes her and
	// narrows the session to the everyone rule's max_scopes
	fs.setAccount(t, "alice", []string{"everyone"}, false, "")
	st, ex, se = authStatus(t, env)
	if ex != 0 || !slices.Equal(st.Scopes, []string{"registry:read"}) {
		t.Fatalf("after the group change: %d %+v %s", ex, st, se)
	}
	if r := fs.role(t, "alice"); r != "member" {
		t.Fatalf("alice's role after leaving platform-team: %q, want member", r)
	}
	fs.setAccount(t, "alice", nil, false, "")
	if _, ex, se := authStatus(t, env); ex != 0 {
		t.Fatalf("after leaving every group: %d %s", ex, se)
	}
	if r := fs.role(t, "alice"); r != "" {
		t.Fatalf("alice is still %q in acme-corp after leaving every mapped group", r)
	}

	// disabled upstream: the refresh fails with invalid_grant, exit 4
	fs.setAccount(t, "alice", []string{"platform-team"}, true, "")
	_, se, ex = runCLI(t, env, "", "auth", "token")
	if ex != 4 || !strings.Contains(se, "log") {
		t.Fatalf("a disabled upstream account still refreshes: exit %d %s", ex, se)
	}
	var types []string
	uid := mustUser(t, fs.Store, "alice").ID
	fs.Store.ForEachEvent(context.Background(), store.EventFilter{UserID: uid}, func(e *store.Event) error { types = append(types, e.Type); return nil })
	for _, want := range []string{model.EventIdentityLinked, model.EventLoginFederated, model.EventMembershipSynced} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s event in alice's log: %q", want, types)
		}
	}
}

func mustUser(t *testing.T, st *store.Store, name string) *store.User {
	t.Helper()
	u, err := st.UserByName(context.Background(), name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u
}

// TestFederatedWebLogin: `login --web` through oidc-provider, with the
// password form disabled; an upstream account whose name and e-mail are
// another user's gets its own account (never matched by e-mail or name).
func TestFederatedWebLogin(t *testing.T) {
	fs := startFedServer(t, true)
	fs.setAccount(t, "bob", []string{"platform-team"}, false, "")
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "url")
	opener := filepath.Join(dir, "open-browser")
	os.WriteFile(opener, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+urlFile+".tmp && mv "+urlFile+".tmp "+urlFile+"\n"), 0o700)
	env := []string{"CODESYNC_SERVER=" + fs.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING=file", "CODESYNC_BROWSER=" + opener}
	cmd := cli(t, env, "login", "--web")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var authURL string
	for i := 0; i < 200 && authURL == ""; i++ {
		b, _ := os.ReadFile(urlFile)
		authURL = string(b)
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(authURL, fs.URL+"/oauth/authorize?") {
		t.Fatalf("authorize URL %q\n%s", authURL, stderr.String())
	}
	bob := newPerson(t, fs.URL, "bob")
	first, _ := bob.visit(authURL)
	if strings.Contains(first, `name="password"`) || strings.Contains(first, "<form") {
		t.Fatalf("--disable-local-login: the page still has a sign-in form:\n%s", first)
	}
	page := bob.signInThroughProvider(authURL)
	if !strings.Contains(page, "Signed in as <strong>bob</strong> with Peer SSO") {
		t.Fatalf("authorize page after the sign-in:\n%s", page)
	}
	if res := bob.approve(page, "", "approve"); !strings.Contains(res, "Logged in") {
		t.Fatalf("after approving, the CLI's callback page says: %s", res)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("login --web: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("login --web did not finish")
	}
	st, ex, se := authStatus(t, env)
	if ex != 0 || st.User != "bob" || st.Provider == nil || *st.Provider != "peer" {
		t.Fatalf("auth status: %d %+v %s", ex, st, se)
	}
	if r := fs.role(t, "bob"); r != "admin" {
		t.Fatalf("bob's role: %q, want admin", r)
	}

	// the provider's account "dev" with bob's e-mail: neither the local dev
	// nor bob — a new account
	fs.setAccount(t, "dev", []string{"everyone"}, false, "bob@peer.example")
	fs.setAccount(t, "bob", []string{"platform-team"}, false, "bob@peer.example")
	intruder := newPerson(t, fs.URL, "dev")
	page = intruder.signInThroughProvider(fs.URL + "/device")
	if !strings.Contains(page, "Signed in as <strong>dev-2</strong>") {
		t.Fatalf("the upstream dev was matched to an existing account:\n%s", page)
	}
	idn, err := fs.Store.IdentityBySubject(context.Background(), "peer", "dev")
	if err != nil || idn.UserID == mustUser(t, fs.Store, "dev").ID || idn.UserID == mustUser(t, fs.Store, "bob").ID {
		t.Fatalf("identity peer/dev linked to %+v (%v)", idn, err)
	}
	// later sign-ins match by (provider, subject)
	again := newPerson(t, fs.URL, "bob")
	if page := again.signInThroughProvider(fs.URL + "/device"); !strings.Contains(page, "Signed in as <strong>bob</strong>") {
		t.Fatalf("bob's second sign-in:\n%s", page)
	}
	// the local password form is refused, even posted with a valid CSRF pair
	res, err := http.PostForm(fs.URL+"/oauth/device/code", url.Values{"client_id": {"codesync-cli"}})
	if err != nil {
		t.Fatal(err)
	}
	var da struct {
		UserCode string `json:"user_code"`
	}
	json.NewDecoder(res.Body).Decode(&da)
	res.Body.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	if res, err = hc.Get(fs.URL + "/device"); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	base, _ := url.Parse(fs.URL)
	csrf := ""
	for _, c := range jar.Cookies(base) {
		if c.Name == "codesync_csrf" {
			csrf = c.Value
		}
	}
	res, err = hc.PostForm(fs.URL+"/device", url.Values{"username": {"dev"}, "password": {fs.Password}, "action": {"approve"}, "csrf_token": {csrf}, "user_code": {da.UserCode}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if csrf == "" || strings.Contains(string(body), "Device connected") || !strings.Contains(string(body), "Sign in with your identity provider first") {
		t.Fatalf("--disable-local-login accepted a password: %d %s", res.StatusCode, body)
	}
}
