package federation

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Provider types.
const (
	TypeOIDC   = "oidc"
	TypeGitLab = "gitlab"
	TypeGitHub = "github"
)

// DefaultRecheck is how often a refresh of a CodeSync session asks the
// upstream provider again when a provider does not set `recheck`.
const DefaultRecheck = 10 * time.Minute

// Defaults per provider type.
var (
	defaultOIDCScopes   = []string{"openid", "profile", "email", "offline_access"}
	defaultGitLabScopes = []string{"openid", "profile", "email"}
	defaultGitHubScopes = []string{"read:user", "user:email", "read:org"}
)

const (
	defaultGitLabIssuer = "https://gitlab.com"
	defaultGitHubURL    = "https://github.com"
	defaultGitHubAPIURL = "https://api.github.com"
)

var (
	idRE    = regexp.MustCompile(`^[a-z0-9-]+$`)
	slugRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	scopeRE = regexp.MustCompile(`^[A-Za-z0-9_.:/-]+$`)
)

// Secret is a client secret read from a file or the environment. Its String
// and GoString never show the value, so a config printed by mistake (%v,
// %+v, %#v) does not leak it. Reveal returns the value.
type Secret struct{ v string }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.v }

// String returns a placeholder, never the value.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return "[redacted]"
}

// GoString returns a placeholder, never the value.
func (s Secret) GoString() string { return `federation.Secret("[redacted]")` }

// ProviderConfig is one entry of `identity_providers`.
type ProviderConfig struct {
	ID               string        // [a-z0-9-]+; in URLs, events and auth status
	Type             string        // oidc | gitlab | github
	Name             string        // the button label
	Issuer           string        // oidc, gitlab
	ClientID         string        //
	ClientSecretFile string        // one of these two
	ClientSecretEnv  string        //
	ClientSecret     Secret        // loaded from the file or the variable
	Scopes           []string      //
	GroupsClaim      string        // oidc, gitlab
	UsernameClaim    string        // oidc, gitlab
	Recheck          time.Duration // default 10m; 0 = at every refresh
	GitHubURL        string        // github: web base URL (GitHub Enterprise Server)
	APIURL           string        // github: REST API base URL
}

// Mapping is one entry of `mappings`: members of Group at Provider become
// members of Org with Role, and may grant at most MaxScopes.
type Mapping struct {
	Provider  string
	Group     string // github: ORG or ORG/TEAM
	Org       string
	Role      Role
	MaxScopes []string // empty: this rule sets no scope ceiling
}

// Config is the federation part of the server configuration file.
type Config struct {
	IdentityProviders []ProviderConfig
	Mappings          []Mapping
}

// Provider returns the configuration of provider id.
func (c *Config) Provider(id string) (ProviderConfig, bool) {
	for _, p := range c.IdentityProviders {
		if p.ID == id {
			return p, true
		}
	}
	return ProviderConfig{}, false
}

// Resolve applies the mapping rules to the groups a user has at provider id.
func (c *Config) Resolve(id string, groups []string) Desired {
	p, _ := c.Provider(id)
	return Resolve(c.Mappings, id, groups, p.Type == TypeGitHub || p.Type == TypeGitLab)
}

// Env gives access to the environment variables and files the
// configuration names (client secrets). OSEnv is the real one.
type Env struct {
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
}

// OSEnv reads the process environment and the file system.
func OSEnv() Env { return Env{LookupEnv: os.LookupEnv, ReadFile: os.ReadFile} }

// LoadFile reads and validates the federation part of the server
// configuration file at path.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	return Parse(data, OSEnv())
}

// Parse reads and validates `identity_providers` and `mappings` from a server
// configuration file. Other top-level keys (trusted issuers, retention, SMTP,
// ...) are left to their owners; unknown keys inside a provider or a mapping
// are refused. Errors name the line and never contain a secret.
func Parse(data []byte, env Env) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("server config: %s", oneLine(err.Error()))
	}
	cfg := &Config{}
	if len(doc.Content) == 0 { // empty file
		return cfg, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("server config: line %d: the file must be a mapping of keys", root.Line)
	}
	var providersNode, mappingsNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "identity_providers":
			providersNode = root.Content[i+1]
		case "mappings":
			mappingsNode = root.Content[i+1]
		}
	}
	if providersNode != nil && providersNode.Tag != "!!null" {
		if providersNode.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("server config: line %d: identity_providers must be a list", providersNode.Line)
		}
		for _, n := range providersNode.Content {
			p, err := parseProvider(n, env)
			if err != nil {
				return nil, err
			}
			if _, dup := cfg.Provider(p.ID); dup {
				return nil, fmt.Errorf("server config: line %d: identity provider %q is listed twice", n.Line, p.ID)
			}
			cfg.IdentityProviders = append(cfg.IdentityProviders, p)
		}
	}
	if mappingsNode != nil && mappingsNode.Tag != "!!null" {
		if mappingsNode.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("server config: line %d: mappings must be a list", mappingsNode.Line)
		}
		for _, n := range mappingsNode.Content {
			m, err := parseMapping(n, cfg)
			if err != nil {
				return nil, err
			}
			cfg.Mappings = append(cfg.Mappings, m)
		}
	}
	return cfg, nil
}

// checkKeys refuses keys of a mapping node that are not in allowed.
func checkKeys(n *yaml.Node, what string, allowed ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("server config: line %d: each %s must be a mapping of keys", n.Line, what)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Value == "client_secret" && what == "identity provider" {
			return fmt.Errorf("server config: line %d: client_secret is not accepted inline: use client_secret_file or client_secret_env", k.Line)
		}
		if !slices.Contains(allowed, k.Value) {
			return fmt.Errorf("server config: line %d: unknown key %q in %s (known: %s)", k.Line, k.Value, what, strings.Join(allowed, ", "))
		}
	}
	return nil
}

type providerYAML struct {
	ID               string   `yaml:"id"`
	Type             string   `yaml:"type"`
	Name             string   `yaml:"name"`
	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	Scopes           []string `yaml:"scopes"`
	GroupsClaim      string   `yaml:"groups_claim"`
	UsernameClaim    string   `yaml:"username_claim"`
	Recheck          string   `yaml:"recheck"`
	GitHubURL        string   `yaml:"github_url"`
	APIURL           string   `yaml:"api_url"`
}

var providerKeys = []string{"id", "type", "name", "issuer", "client_id", "client_secret_file", "client_secret_env",
	"scopes", "groups_claim", "username_claim", "recheck", "github_url", "api_url"}

func parseProvider(n *yaml.Node, env Env) (ProviderConfig, error) {
	if err := checkKeys(n, "identity provider", providerKeys...); err != nil {
		return ProviderConfig{}, err
	}
	var y providerYAML
	if err := n.Decode(&y); err != nil {
		return ProviderConfig{}, fmt.Errorf("server config: identity provider at line %d: %s", n.Line, oneLine(err.Error()))
	}
	bad := func(format string, a ...any) (ProviderConfig, error) {
		name := y.ID
		if name == "" {
			name = fmt.Sprintf("at line %d", n.Line)
		} else {
			name = fmt.Sprintf("%q (line %d)", name, n.Line)
		}
		return ProviderConfig{}, fmt.Errorf("server config: identity provider %s: %s", name, fmt.Sprintf(format, a...))
	}
	if !idRE.MatchString(y.ID) || len(y.ID) > 64 {
		return bad("id must be 1 to 64 of a-z, 0-9 and -")
	}
	p := ProviderConfig{
		ID: y.ID, Type: y.Type, Name: y.Name, Issuer: y.Issuer, ClientID: y.ClientID,
		ClientSecretFile: y.ClientSecretFile, ClientSecretEnv: y.ClientSecretEnv,
		Scopes: y.Scopes, GroupsClaim: y.GroupsClaim, UsernameClaim: y.UsernameClaim,
		Recheck: DefaultRecheck, GitHubURL: y.GitHubURL, APIURL: y.APIURL,
	}
	switch p.Type {
	case TypeOIDC, TypeGitLab:
		if p.GitHubURL != "" || p.APIURL != "" {
			return bad("github_url and api_url are only for type github")
		}
		if p.Type == TypeGitLab {
			if p.Issuer == "" {
				p.Issuer = defaultGitLabIssuer
			}
			if p.GroupsClaim == "" {
				p.GroupsClaim = "groups"
			}
			if p.Name == "" {
				p.Name = "GitLab"
			}
			if p.Scopes == nil {
				p.Scopes = slices.Clone(defaultGitLabScopes)
			}
		} else {
			if p.Issuer == "" {
				return bad("issuer is required for type oidc")
			}
			if p.GroupsClaim == "" {
				p.GroupsClaim = "groups"
			}
			if p.Scopes == nil {
				p.Scopes = slices.Clone(defaultOIDCScopes)
			}
		}
		if err := checkBaseURL(p.Issuer); err != nil {
			return bad("issuer: %v", err)
		}
		if !slices.Contains(p.Scopes, "openid") {
			return bad("scopes must include openid")
		}
		if p.UsernameClaim == "" {
			p.UsernameClaim = "preferred_username"
		}
	case TypeGitHub:
		if p.Issuer != "" || p.GroupsClaim != "" || p.UsernameClaim != "" {
			return bad("issuer, groups_claim and username_claim are not for type github (groups are ORG and ORG/TEAM from GitHub's API)")
		}
		if p.GitHubURL == "" {
			p.GitHubURL = defaultGitHubURL
		}
		if p.APIURL == "" {
			if p.GitHubURL == defaultGitHubURL {
				p.APIURL = defaultGitHubAPIURL
			} else { // GitHub Enterprise Server
				p.APIURL = strings.TrimRight(p.GitHubURL, "/") + "/api/v3"
			}
		}
		if err := checkBaseURL(p.GitHubURL); err != nil {
			return bad("github_url: %v", err)
		}
		if err := checkBaseURL(p.APIURL); err != nil {
			return bad("api_url: %v", err)
		}
		if p.Name == "" {
			p.Name = "GitHub"
		}
		if p.Scopes == nil {
			p.Scopes = slices.Clone(defaultGitHubScopes)
		}
	case "":
		return bad("type is required: oidc, gitlab or github")
	default:
		return bad("unknown type %q: use oidc, gitlab or github", p.Type)
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if p.ClientID == "" {
		return bad("client_id is required")
	}
	for _, s := range p.Scopes {
		if !scopeRE.MatchString(s) {
			return bad("invalid scope %q", s)
		}
	}
	switch {
	case p.ClientSecretFile != "" && p.ClientSecretEnv != "":
		return bad("give client_secret_file or client_secret_env, not both")
	case p.ClientSecretFile != "":
		b, err := env.ReadFile(p.ClientSecretFile)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return bad("client_secret_file %s: %v", p.ClientSecretFile, err)
		}
		p.ClientSecret = Secret{strings.TrimRight(string(b), "\r\n")}
		if p.ClientSecret.v == "" {
			return bad("client_secret_file %s is empty", p.ClientSecretFile)
		}
	case p.ClientSecretEnv != "":
		v, ok := env.LookupEnv(p.ClientSecretEnv)
		if !ok || v == "" {
			return bad("client_secret_env: environment variable %s is not set", p.ClientSecretEnv)
		}
		p.ClientSecret = Secret{v}
	default:
		return bad("client_secret_file or client_secret_env is required")
	}
	if y.Recheck != "" {
		d, err := time.ParseDuration(y.Recheck)
		if err != nil || d < 0 {
			return bad("recheck %q: want a duration such as 10m (0 = at every refresh)", y.Recheck)
		}
		p.Recheck = d
	}
	return p, nil
}

// checkBaseURL accepts https URLs, and http only on loopback (tests, a
// provider on the same machine).
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%q: http is allowed only on loopback; use https", s)
	default:
		return fmt.Errorf("%q: want an https URL", s)
	}
}

type mappingYAML struct {
	Provider  string   `yaml:"provider"`
	Group     string   `yaml:"group"`
	Org       string   `yaml:"org"`
	Role      string   `yaml:"role"`
	MaxScopes []string `yaml:"max_scopes"`
}

func parseMapping(n *yaml.Node, cfg *Config) (Mapping, error) {
	if err := checkKeys(n, "mapping", "provider", "group", "org", "role", "max_scopes"); err != nil {
		return Mapping{}, err
	}
	var y mappingYAML
	if err := n.Decode(&y); err != nil {
		return Mapping{}, fmt.Errorf("server config: mapping at line %d: %s", n.Line, oneLine(err.Error()))
	}
	bad := func(format string, a ...any) (Mapping, error) {
		return Mapping{}, fmt.Errorf("server config: mapping at line %d: %s", n.Line, fmt.Sprintf(format, a...))
	}
	p, ok := cfg.Provider(y.Provider)
	if !ok {
		return bad("provider %q is not in identity_providers", y.Provider)
	}
	if strings.TrimSpace(y.Group) == "" || y.Group != strings.TrimSpace(y.Group) {
		return bad("group is required (no surrounding spaces)")
	}
	if p.Type == TypeGitHub {
		parts := strings.Split(y.Group, "/")
		if len(parts) > 2 || slices.Contains(parts, "") {
			return bad("group %q: for GitHub write ORG or ORG/TEAM (the team's slug)", y.Group)
		}
	}
	if !slugRE.MatchString(y.Org) || len(y.Org) > 64 {
		return bad("org %q is not an organization slug (a-z, 0-9 and -)", y.Org)
	}
	m := Mapping{Provider: y.Provider, Group: y.Group, Org: y.Org, Role: Role(y.Role), MaxScopes: y.MaxScopes}
	if m.Role == "" {
		m.Role = RoleMember
	}
	if m.Role.rank() == 0 {
		return bad("role %q: use owner, admin, member or auditor", y.Role)
	}
	for _, s := range m.MaxScopes {
		if !scopeRE.MatchString(s) {
			return bad("invalid scope %q in max_scopes", s)
		}
	}
	return m, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
