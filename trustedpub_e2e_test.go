package main

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/internal/fakeidp"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/policy"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// End-to-end proofs of trusted publishing (issue 23): the real CLI (this
// test binary re-executed as codesync-cli) against a real server on
// loopback over a real SQLite file. GitHub's and GitLab's issuers cannot be
// reached from the test machines: internal/fakeidp stands in for them (its
// discovery document, JWKS, ID tokens with their claim names, and GitHub's
// ACTIONS_ID_TOKEN_REQUEST_URL endpoint).

// tpSetup: a server trusting the stand-in issuer; alice owns @acme and
// @other (claimed by publishing once) and holds a key to manage publishers.
func tpSetup(t *testing.T) (*testServer, *fakeidp.IdP, string) {
	t.Helper()
	idp := fakeidp.New(t) // stands in for https://token.actions.githubusercontent.com and https://gitlab.com
	ts := startServer(t, server.Config{TrustedPublishing: server.TrustedPublishing{TrustedIssuers: []string{idp.Issuer()}}})
	alice := mintKey(t, ts, "alice", model.EnvProduction, "registry:publish", "registry:read", "npm:scope:write", "keys:read", "keys:write", "audit:read")
	for _, p := range []string{"@acme/seed", "@other/seed"} {
		if status, _, body := call(t, "PUT", ts.URL+"/v1/registry/packages/"+p, alice, `{"version":"0.0.1"}`); status != 200 {
			t.Fatalf("claiming %s: %d %s", p, status, body)
		}
	}
	return ts, idp, alice
}

// ciEnv is the environment of a CI job: the server, a scratch config
// folder, and nothing else but the CI variables given.
func ciEnv(t *testing.T, ts *testServer, vars ...string) []string {
	dir := t.TempDir()
	return append([]string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + dir + "/config", "CODESYNC_KEYRING=file", "NO_COLOR=1"}, vars...)
}

func addPublisher(t *testing.T, ts *testServer, tok string, args ...string) string {
	t.Helper()
	out, _ := mustCLI(t, cliEnv(ts, tok), 0, append([]string{"trusted-publisher", "add"}, args...)...)
	id := strings.TrimSpace(out)
	if !strings.HasPrefix(id, "tp_") {
		t.Fatalf("trusted-publisher add printed %q, want an ID", out)
	}
	return id
}

func events(t *testing.T, ts *testServer, typ string) []store.Event {
	t.Helper()
	rows, err := ts.Store.DB().Query(`SELECT type, actor, detail FROM audit_events WHERE type = ? ORDER BY seq`, typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		if err := rows.Scan(&e.Type, &e.Actor, &e.Detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestE2ETrustedPublishingGitHubActions(t *testing.T) {
	ts, idp, alice := tpSetup(t)
	id := addPublisher(t, ts, alice, "@acme", "--github", "acme/widgets", "--workflow", "release.yml", "--environment", "release", "--issuer", idp.Issuer())

	out, _ := mustCLI(t, cliEnv(ts, alice), 0, "trusted-publisher", "list", "-o", "json")
	var list []trustedpub.Publisher
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].ID != id || list[0].CreatedBy != "alice" {
		t.Fatalf("list: %v %s", err, out)
	}

	// completion offers the IDs
	if out, _ := mustCLI(t, cliEnv(ts, alice), 0, "__complete", "trusted-publisher", "remove", ""); !strings.Contains(out, id+"\t@acme github acme/widgets") {
		t.Fatalf("completion of IDs: %q", out)
	}

	// a CI job with only GitHub's variables (permissions: id-token: write)
	job := fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml", Environment: "release", Ref: "refs/tags/v1.2.0", RunID: "777"})
	reqURL, reqTok := idp.ActionsEnv(job)
	env := ciEnv(t, ts, "ACTIONS_ID_TOKEN_REQUEST_URL="+reqURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN="+reqTok)

	// every command exchanges by itself: auth status says so
	out, _ = mustCLI(t, env, 0, "auth", "status", "-o", "json")
	var st struct {
		User, Source, TokenType string            `json:"-"`
		Claims                  map[string]string `json:"claims"`
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(out), &raw)
	_ = json.Unmarshal([]byte(out), &st)
	if raw["source"] != "oidc" || raw["token_type"] != "oidc" || raw["user"] != "alice" || st.Claims["repository"] != "acme/widgets" ||
		!strings.Contains(st.Claims["job_workflow_ref"], "release.yml") || st.Claims["run_id"] != "777" {
		t.Fatalf("auth status in CI: %s", out)
	}
	// nothing written to disk
	for _, e := range env {
		if d, ok := strings.CutPrefix(e, "CODESYNC_CONFIG_DIR="); ok {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Fatalf("the CI run wrote %s", d)
			}
		}
	}

	// auth token --oidc prints a token that publishes into @acme only
	out, _ = mustCLI(t, env, 0, "auth", "token", "--oidc")
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "cso_") {
		t.Fatalf("auth token --oidc printed %q", out)
	}
	if status, code, body := call(t, "PUT", ts.URL+"/v1/registry/packages/@acme/widgets", tok, `{"version":"1.2.0"}`); status != 200 {
		t.Fatalf("publish into the allowed namespace: %d %s %s", status, code, body)
	}
	if status, code, _ := call(t, "PUT", ts.URL+"/v1/registry/packages/@other/widgets", tok, `{"version":"1.2.0"}`); status != 403 || code != "insufficient_scope" {
		t.Fatalf("publish outside the publisher's namespaces: %d %s", status, code)
	}
	// it cannot create keys, register JWT keys or publishers, or read keys
	mustCLI(t, env, 5, "key", "create", "ci", "--scopes", "registry:publish", "--expires", "1d")
	mustCLI(t, env, 5, "key", "list")
	if status, _, _ := call(t, "POST", ts.URL+"/v1/keys", tok, `{"name":"x","scopes":["registry:read"],"environment":"production"}`); status != 403 {
		t.Fatalf("the exchanged token created a key: %d", status)
	}
	if status, _, body := call(t, "POST", ts.URL+"/v1/trusted-publishers", tok, `{"namespaces":["@acme"],"provider":"oidc","issuer":"`+idp.Issuer()+`","claims":{"sub":"x"}}`); status != 403 {
		t.Fatalf("the exchanged token registered a publisher: %d %s", status, body)
	}
	// whoami: the ceiling — two scopes, expiry within the hour
	_, _, body := call(t, "GET", ts.URL+"/v1/auth/whoami", tok, "")
	var w model.WhoAmI
	if err := json.Unmarshal(body, &w); err != nil || w.Credential.Type != "oidc" || strings.Join(w.Credential.Scopes, ",") != "registry:publish,registry:read" ||
		w.Credential.ExpiresAt == nil || time.Until(*w.Credential.ExpiresAt) > 16*time.Minute {
		t.Fatalf("whoami of the exchanged token: %s", body)
	}

	// the audit log names the repository, workflow and run
	out, _ = mustCLI(t, cliEnv(ts, alice), 0, "audit", "events", "--type", model.EventOIDCExchanged, "-o", "json")
	if !strings.Contains(out, "repository=acme/widgets") || !strings.Contains(out, "release.yml") || !strings.Contains(out, "run_id=777") {
		t.Fatalf("audit events: %s", out)
	}

	// removing the publisher ends its tokens and the next exchange
	mustCLI(t, cliEnv(ts, alice), 0, "trusted-publisher", "remove", id)
	if status, code, _ := call(t, "PUT", ts.URL+"/v1/registry/packages/@acme/widgets", tok, `{"version":"1.2.1"}`); status != 401 || code != "invalid_token" {
		t.Fatalf("a token of a removed publisher still works: %d %s", status, code)
	}
	_, errOut := mustCLI(t, env, 4, "auth", "token", "--oidc")
	if !strings.Contains(errOut, "no_matching_publisher") {
		t.Fatalf("exchange after removal: %s", errOut)
	}
	mustCLI(t, cliEnv(ts, alice), 6, "trusted-publisher", "remove", id)
}

func TestE2ETrustedPublishingGitLab(t *testing.T) {
	ts, idp, alice := tpSetup(t)
	addPublisher(t, ts, alice, "@acme/widgets", "--gitlab", "acme/widgets", "--ref", "main", "--issuer", idp.Issuer())
	idTok, err := idp.Mint(fakeidp.GitLabClaims(fakeidp.GitLabJob{ProjectPath: "acme/widgets"}))
	if err != nil {
		t.Fatal(err)
	}
	env := ciEnv(t, ts, "CODESYNC_ID_TOKEN="+idTok)
	out, _ := mustCLI(t, env, 0, "auth", "token", "--oidc")
	tok := strings.TrimSpace(out)
	if status, code, body := call(t, "PUT", ts.URL+"/v1/registry/packages/@acme/widgets", tok, `{"version":"2.0.0"}`); status != 200 {
		t.Fatalf("publish from GitLab: %d %s %s", status, code, body)
	}
	// the publisher names @acme/widgets: not the rest of @acme
	if status, code, _ := call(t, "PUT", ts.URL+"/v1/registry/packages/@acme/gadgets", tok, `{"version":"2.0.0"}`); status != 403 || code != "insufficient_scope" {
		t.Fatalf("publish beside the named package: %d %s", status, code)
	}
	// GitLab's one ID token is exchanged once
	_, errOut := mustCLI(t, env, 4, "key", "list")
	if !strings.Contains(errOut, "replayed") {
		t.Fatalf("second exchange of the same ID token: %s", errOut)
	}
}

// Every refusal over the real token endpoint, each recorded with its reason.
func TestE2ETrustedPublishingRefusals(t *testing.T) {
	ts, idp, alice := tpSetup(t)
	addPublisher(t, ts, alice, "@acme", "--github", "acme/widgets", "--workflow", "release.yml", "--issuer", idp.Issuer())
	other := fakeidp.New(t) // an issuer the server does not trust
	good := fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml"})
	with := func(c map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range c {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	mint := func(f func(map[string]any) (string, error), c map[string]any) string {
		tok, err := f(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exchange := func(idTok string) (int, string, []byte) {
		form := url.Values{"grant_type": {trustedpub.GrantTypeTokenExchange}, "subject_token_type": {trustedpub.TokenTypeIDToken}, "subject_token": {idTok}}
		return call(t, "POST", ts.URL+"/oauth/token", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	replayed := mint(idp.Mint, good)
	if status, _, body := exchange(replayed); status != 200 {
		t.Fatalf("a good token: %d %s", status, body)
	}
	cases := []struct {
		name, reason, tok string
	}{
		{"wrong audience", "wrong_audience", mint(idp.Mint, with(good, "aud", "https://github.com/acme"))},
		{"wrong issuer", "untrusted_issuer", mint(other.Mint, good)},
		{"expired", "expired", mint(idp.Mint, with(good, "iat", time.Now().Add(-20*time.Minute).Unix(), "nbf", time.Now().Add(-20*time.Minute).Unix(), "exp", time.Now().Add(-10*time.Minute).Unix()))},
		{"replayed jti", "replayed", replayed},
		{"unknown signing key", "bad_signature", mint(idp.MintUnknownKid, good)},
		{"forged with a known kid", "bad_signature", mint(idp.MintForeign, good)},
		{"repository mismatch", "no_matching_publisher", mint(idp.Mint, fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/gadgets", Workflow: "release.yml"}))},
		{"workflow mismatch", "no_matching_publisher", mint(idp.Mint, fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "ci.yml"}))},
		{"fork pull request", "pull_request", mint(idp.Mint, fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml", EventName: "pull_request", HeadRepository: "mallory/widgets"}))},
		{"fork head repository", "fork", mint(idp.Mint, fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml", HeadRepository: "mallory/widgets"}))},
	}
	for _, c := range cases {
		status, code, body := exchange(c.tok)
		if status != 400 || code != "invalid_grant" || !strings.Contains(string(body), c.reason) {
			t.Errorf("%s: %d %s %s, want 400 invalid_grant %s", c.name, status, code, body, c.reason)
		}
		if strings.Contains(string(body), "cso_") {
			t.Errorf("%s: a token in a refusal: %s", c.name, body)
		}
	}
	refused := events(t, ts, model.EventOIDCRefused)
	for _, c := range cases {
		found := false
		for _, e := range refused {
			found = found || strings.Contains(e.Detail, "refused ("+c.reason+")")
		}
		if !found {
			t.Errorf("no %s event with reason %s (%s)", model.EventOIDCRefused, c.reason, c.name)
		}
	}
	// the owner of the matching repository sees the verified refusals
	out, _ := mustCLI(t, cliEnv(ts, alice), 0, "audit", "events", "--type", model.EventOIDCRefused, "-o", "json")
	if !strings.Contains(out, "refused (no_matching_publisher)") || !strings.Contains(out, "refused (pull_request)") {
		t.Fatalf("alice's audit events lack the refusals: %s", out)
	}
	if ex := events(t, ts, model.EventOIDCExchanged); len(ex) != 1 {
		t.Fatalf("%d exchanges recorded, want 1", len(ex))
	}
}

// Who may manage publishers: the scope's owner, an organization's owner or
// admin; not another user, not a member, not a credential lacking the
// namespace.
func TestE2ETrustedPublisherPermissions(t *testing.T) {
	ts, idp, alice := tpSetup(t)
	bob := mintKey(t, ts, "bob", model.EnvProduction, "registry:publish", "registry:read", "orgs:read", "orgs:write", "npm:scope:write")
	args := []string{"--github", "acme/widgets", "--workflow", "release.yml", "--issuer", idp.Issuer()}
	// bob does not own @acme
	mustCLI(t, cliEnv(ts, bob), 5, append([]string{"trusted-publisher", "add", "@acme"}, args...)...)
	// an unclaimed scope has nobody to manage it
	mustCLI(t, cliEnv(ts, bob), 5, append([]string{"trusted-publisher", "add", "@nobody"}, args...)...)
	// alice's key limited to @other cannot hand out @acme (the ceiling)
	narrow := createKeyJSON(t, cliEnv(ts, alice), "narrow", "--scopes", "registry:publish,registry:read", "--namespace", "@other", "--env", "prod")
	_, errOut := mustCLI(t, cliEnv(ts, narrow.Token), 5, append([]string{"trusted-publisher", "add", "@acme"}, args...)...)
	if !strings.Contains(errOut, "namespace") {
		t.Fatalf("refusal does not name the limit: %s", errOut)
	}
	// nor can a key lacking registry:read (the publisher grants it)
	pubOnly := createKeyJSON(t, cliEnv(ts, alice), "pub-only", "--scopes", "registry:publish", "--env", "prod")
	mustCLI(t, cliEnv(ts, pubOnly.Token), 5, append([]string{"trusted-publisher", "add", "@acme"}, args...)...)
	// an organization: bob owns it, claims @bobcorp; carol is a member
	mustCLI(t, cliEnv(ts, bob), 0, "org", "create", "bobcorp")
	mustCLI(t, cliEnv(ts, bob), 0, "org", "namespace", "claim", "bobcorp", "@bobcorp")
	carol := mintKey(t, ts, "carol", model.EnvProduction, "registry:publish", "registry:read", "orgs:read", "orgs:write")
	mustCLI(t, cliEnv(ts, bob), 0, "org", "member", "add", "bobcorp", "carol")
	mustCLI(t, cliEnv(ts, carol), 0, "org", "member", "accept", "bobcorp") // an invitation until accepted
	mustCLI(t, cliEnv(ts, carol), 5, append([]string{"trusted-publisher", "add", "@bobcorp"}, args...)...)
	id := addPublisher(t, ts, bob, append([]string{"@bobcorp"}, args...)...)
	// carol sees it (a member), cannot remove it; alice does not see it
	out, _ := mustCLI(t, cliEnv(ts, carol), 0, "trusted-publisher", "list", "-o", "json")
	if !strings.Contains(out, id) {
		t.Fatalf("a member does not see the organization's publisher: %s", out)
	}
	mustCLI(t, cliEnv(ts, carol), 5, "trusted-publisher", "remove", id)
	mustCLI(t, cliEnv(ts, alice), 6, "trusted-publisher", "remove", id)
	// the exchanged token acts for bob, publishes into @bobcorp
	idTok, _ := idp.Mint(fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml"}))
	out, _ = mustCLI(t, ciEnv(t, ts, "CODESYNC_ID_TOKEN="+idTok), 0, "auth", "token", "--oidc")
	if status, code, body := call(t, "PUT", ts.URL+"/v1/registry/packages/@bobcorp/widgets", strings.TrimSpace(out), `{"version":"1.0.0"}`); status != 200 {
		t.Fatalf("publish into the organization's scope: %d %s %s", status, code, body)
	}
	mustCLI(t, cliEnv(ts, bob), 0, "trusted-publisher", "remove", id)
	// usage errors: exit 2
	mustCLI(t, cliEnv(ts, bob), 2, "trusted-publisher", "add", "@bobcorp", "--github", "acme/widgets")
	mustCLI(t, cliEnv(ts, bob), 2, "trusted-publisher", "add", "bobcorp", "--gitlab", "a/b")
	mustCLI(t, cliEnv(ts, bob), 2, "trusted-publisher", "remove", "nope")
}

// The server's flags: the grant is listed by default, an empty --trusted-issuers
// turns it off, bad values are usage errors.
func TestE2ETrustedPublishingServerFlags(t *testing.T) {
	grants := func(extra ...string) []string {
		t.Helper()
		cmd := cli(t, nil, append([]string{"server", "--dev", "--addr", "127.0.0.1:0"}, extra...)...)
		var out, errb syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "CODESYNC_AUTH_TOKEN") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		base := ""
		for _, l := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(l, "export CODESYNC_SERVER="); ok {
				base = v
			}
		}
		if base == "" {
			t.Fatalf("server did not start: %s", errb.String())
		}
		_, _, body := call(t, "GET", base+"/.well-known/oauth-authorization-server", "", "")
		var md struct {
			Grants []string `json:"grant_types_supported"`
		}
		if err := json.Unmarshal(body, &md); err != nil {
			t.Fatal(err)
		}
		return md.Grants
	}
	has := func(l []string) bool {
		for _, g := range l {
			if g == trustedpub.GrantTypeTokenExchange {
				return true
			}
		}
		return false
	}
	if g := grants(); !has(g) {
		t.Fatalf("default server: grants %v lack the token exchange", g)
	}
	if g := grants("--trusted-issuers", "https://gitlab.example.com", "--oidc-audience", "registry"); !has(g) {
		t.Fatalf("custom issuers: grants %v", g)
	}
	if g := grants("--trusted-issuers", ""); has(g) {
		t.Fatalf("--trusted-issuers '': grants %v still list the token exchange", g)
	}
	for _, bad := range [][]string{{"--trusted-issuers", "http://ci.example.com"}, {"--oidc-audience", ""}, {"--oidc-audience", "a b"}} {
		_, errOut, code := runCLI(t, nil, "", append([]string{"server", "--dev", "--addr", "127.0.0.1:0"}, bad...)...)
		if code != 2 {
			t.Errorf("server %v: exit %d, want 2: %s", bad, code, errOut)
		}
	}
}

// The exchange goes through the same ceiling rule as keys, with the
// server's organization rules: a rule that refuses short-lived publishing
// grants refuses the exchange, recorded as such.
func TestE2ETrustedPublishingBoundByTheCeilingRules(t *testing.T) {
	idp := fakeidp.New(t) // stands in for GitHub's issuer
	refuseShort := policy.RuleFunc(func(c policy.Ceiling, g policy.Grant, narrow bool) (policy.Grant, error) {
		if !g.ExpiresAt.IsZero() && time.Until(g.ExpiresAt) < 2*time.Hour {
			return policy.Grant{}, &policy.Error{Code: policy.CodePolicyViolation, Limit: "test-policy", Msg: "test-policy: nothing shorter than 2h"}
		}
		return g, nil
	})
	ts := startServer(t, server.Config{Rules: []policy.Rule{refuseShort}, TrustedPublishing: server.TrustedPublishing{TrustedIssuers: []string{idp.Issuer()}}})
	alice := mintKey(t, ts, "alice", model.EnvProduction, "registry:publish", "registry:read", "npm:scope:write", "audit:read")
	if status, _, body := call(t, "PUT", ts.URL+"/v1/registry/packages/@acme/seed", alice, `{"version":"0.0.1"}`); status != 200 {
		t.Fatalf("claiming @acme: %d %s", status, body)
	}
	addPublisher(t, ts, alice, "@acme", "--github", "acme/widgets", "--workflow", "release.yml", "--issuer", idp.Issuer())
	idTok, _ := idp.Mint(fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml"}))
	_, errOut := mustCLI(t, ciEnv(t, ts, "CODESYNC_ID_TOKEN="+idTok), 4, "auth", "token", "--oidc")
	if !strings.Contains(errOut, "ceiling") {
		t.Fatalf("refusal: %s", errOut)
	}
	if ev := events(t, ts, model.EventOIDCRefused); len(ev) != 1 || !strings.Contains(ev[0].Detail, "test-policy") {
		t.Fatalf("refusal events: %+v", ev)
	}
	if ex := events(t, ts, model.EventOIDCExchanged); len(ex) != 0 {
		t.Fatalf("an exchange was recorded: %+v", ex)
	}
}
