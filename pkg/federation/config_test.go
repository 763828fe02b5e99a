package federation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const topSecret = "s3cr3t-value-never-shown"

func testEnv() Env {
	return Env{
		LookupEnv: func(k string) (string, bool) {
			switch k {
			case "ACME_SECRET":
				return topSecret, true
			case "EMPTY":
				return "", true
			}
			return "", false
		},
		ReadFile: func(name string) ([]byte, error) {
			switch name {
			case "/etc/codesync/acme.secret":
				return []byte(topSecret + "\n"), nil
			case "/etc/codesync/empty.secret":
				return []byte("\n"), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
	}
}

const fullConfig = `
# trusted issuers, retention and SMTP belong to other parts of the server
trusted_issuers: [https://token.actions.githubusercontent.com]
retention:
  events: 400d
smtp:
  url: smtp://mail@smtp.example:587
identity_providers:
  - id: acme-sso
    type: oidc
    name: Acme SSO
    issuer: https://sso.acme.example
    client_id: codesync
    client_secret_file: /etc/codesync/acme.secret
    scopes: [openid, profile, email, groups]
    groups_claim: groups
    recheck: 5m
  - id: gitlab
    type: gitlab
    client_id: gl-app
    client_secret_env: ACME_SECRET
  - id: github
    type: github
    client_id: Iv1.abc
    client_secret_env: ACME_SECRET
  - id: ghe
    type: github
    client_id: Iv1.def
    client_secret_env: ACME_SECRET
    github_url: https://github.acme.example
mappings:
  - provider: acme-sso
    group: platform-team
    org: acme-corp
    role: admin
    max_scopes: [registry:read, registry:publish, keys:read, keys:write]
  - provider: gitlab
    group: acme/platform
    org: acme-corp
  - provider: github
    group: acme/platform
    org: acme-corp
    role: owner
`

func TestParseFullConfig(t *testing.T) {
	cfg, err := Parse([]byte(fullConfig), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.IdentityProviders) != 4 || len(cfg.Mappings) != 3 {
		t.Fatalf("%d providers, %d mappings", len(cfg.IdentityProviders), len(cfg.Mappings))
	}
	sso, _ := cfg.Provider("acme-sso")
	if sso.Type != TypeOIDC || sso.Name != "Acme SSO" || sso.Issuer != "https://sso.acme.example" || sso.ClientID != "codesync" ||
		sso.ClientSecret.Reveal() != topSecret || sso.Recheck != 5*time.Minute || sso.GroupsClaim != "groups" ||
		sso.UsernameClaim != "preferred_username" || !slices.Equal(sso.Scopes, []string{"openid", "profile", "email", "groups"}) {
		t.Fatalf("acme-sso %+v", sso)
	}
	gl, _ := cfg.Provider("gitlab")
	if gl.Issuer != "https://gitlab.com" || gl.Name != "GitLab" || gl.GroupsClaim != "groups" || gl.Recheck != DefaultRecheck ||
		!slices.Equal(gl.Scopes, []string{"openid", "profile", "email"}) {
		t.Fatalf("gitlab defaults %+v", gl)
	}
	gh, _ := cfg.Provider("github")
	if gh.GitHubURL != "https://github.com" || gh.APIURL != "https://api.github.com" || gh.Name != "GitHub" ||
		!slices.Equal(gh.Scopes, []string{"read:user", "user:email", "read:org"}) {
		t.Fatalf("github defaults %+v", gh)
	}
	ghe, _ := cfg.Provider("ghe")
	if ghe.APIURL != "https://github.acme.example/api/v3" {
		t.Fatalf("GitHub Enterprise API URL %q", ghe.APIURL)
	}
	if m := cfg.Mappings[1]; m.Role != RoleMember || m.MaxScopes != nil {
		t.Fatalf("mapping defaults %+v", m)
	}
	// A printed config never shows the secret.
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg.IdentityProviders), fmt.Sprintf("%#v", cfg.IdentityProviders)} {
		if strings.Contains(s, topSecret) {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestParseEmptyAndOtherKeysOnly(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "retention:\n  events: 30d\n", "identity_providers:\nmappings:\n"} {
		cfg, err := Parse([]byte(in), testEnv())
		if err != nil || len(cfg.IdentityProviders) != 0 || len(cfg.Mappings) != 0 {
			t.Fatalf("%q: %v %+v", in, err, cfg)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	provider := func(extra string) string {
		return "identity_providers:\n  - id: p\n    type: oidc\n    issuer: https://idp.example\n    client_id: c\n" + extra
	}
	withSecret := func(extra string) string { return provider("    client_secret_env: ACME_SECRET\n" + extra) }
	mapping := func(m string) string {
		return withSecret("") + "mappings:\n  - provider: p\n" + m
	}
	for _, tc := range []struct{ name, in, want string }{
		{"inline secret", provider("    client_secret: " + topSecret + "\n"), "client_secret is not accepted inline"},
		{"no secret", provider(""), "client_secret_file or client_secret_env is required"},
		{"both secrets", provider("    client_secret_env: ACME_SECRET\n    client_secret_file: /etc/codesync/acme.secret\n"), "not both"},
		{"unset variable", provider("    client_secret_env: NOPE\n"), "NOPE is not set"},
		{"empty variable", provider("    client_secret_env: EMPTY\n"), "EMPTY is not set"},
		{"missing file", provider("    client_secret_file: /nope\n"), "/nope: file does not exist"},
		{"empty file", provider("    client_secret_file: /etc/codesync/empty.secret\n"), "is empty"},
		{"unknown key", withSecret("    grups_claim: groups\n"), `line 7: unknown key "grups_claim"`},
		{"bad id", strings.Replace(withSecret(""), "id: p", "id: Acme_SSO", 1), "id must be"},
		{"no id", strings.Replace(withSecret(""), "id: p", "name: x", 1), "id must be"},
		{"no type", strings.Replace(withSecret(""), "type: oidc", "name: x", 1), "type is required"},
		{"bad type", strings.Replace(withSecret(""), "type: oidc", "type: saml", 1), `unknown type "saml"`},
		{"no issuer", strings.Replace(withSecret(""), "issuer: https://idp.example", "name: x", 1), "issuer is required"},
		{"http issuer", strings.Replace(withSecret(""), "https://idp.example", "http://idp.example", 1), "http is allowed only on loopback"},
		{"issuer not a URL", strings.Replace(withSecret(""), "https://idp.example", "idp.example", 1), "not an absolute URL"},
		{"no openid", withSecret("    scopes: [profile]\n"), "scopes must include openid"},
		{"no client id", strings.Replace(withSecret(""), "client_id: c", "name: x", 1), "client_id is required"},
		{"bad recheck", withSecret("    recheck: often\n"), `recheck "often"`},
		{"negative recheck", withSecret("    recheck: -1m\n"), "recheck"},
		{"github keys on oidc", withSecret("    api_url: https://api.example\n"), "only for type github"},
		{"issuer on github", "identity_providers:\n  - id: g\n    type: github\n    issuer: https://x.example\n    client_id: c\n    client_secret_env: ACME_SECRET\n", "not for type github"},
		{"duplicate", withSecret("") + "  - id: p\n    type: github\n    client_id: c\n    client_secret_env: ACME_SECRET\n", `"p" is listed twice`},
		{"providers not a list", "identity_providers: {id: p}\n", "must be a list"},
		{"mapping unknown provider", withSecret("") + "mappings:\n  - provider: q\n    group: g\n    org: o\n", `provider "q" is not in identity_providers`},
		{"mapping unknown key", mapping("    group: g\n    org: o\n    rol: admin\n"), `unknown key "rol" in mapping`},
		{"mapping bad role", mapping("    group: g\n    org: o\n    role: root\n"), `role "root"`},
		{"mapping no group", mapping("    org: o\n"), "group is required"},
		{"mapping bad org", mapping("    group: g\n    org: Acme Corp\n"), "not an organization slug"},
		{"mapping bad scope", mapping("    group: g\n    org: o\n    max_scopes: [\"keys read\"]\n"), "invalid scope"},
		{"github group", "identity_providers:\n  - id: g\n    type: github\n    client_id: c\n    client_secret_env: ACME_SECRET\nmappings:\n  - provider: g\n    group: a/b/c\n    org: o\n", "ORG or ORG/TEAM"},
		{"yaml syntax", "identity_providers: [\n", "server config:"},
		{"wrong value type", withSecret("    scopes: openid\n"), "identity provider at line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), testEnv())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), topSecret) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error shows the secret or spans lines: %q", err)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "gh.secret")
	os.WriteFile(secret, []byte("abc\r\n"), 0o600)
	path := filepath.Join(dir, "server.yaml")
	os.WriteFile(path, []byte("identity_providers:\n  - id: gh\n    type: github\n    client_id: c\n    client_secret_file: "+secret+"\n"), 0o600)
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := cfg.Provider("gh"); p.ClientSecret.Reveal() != "abc" {
		t.Fatalf("secret %q", p.ClientSecret.Reveal())
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
