// Package trustedpub is the server side of trusted publishing: a CI job
// proves who it is with the OpenID Connect ID token its CI provider issues
// (GitHub Actions, GitLab CI, or another issuer the operator trusts) and
// exchanges it (RFC 8693) for a short-lived CodeSync token limited to
// registry:publish and registry:read on the namespaces a trusted publisher
// names.
//
// The package has no HTTP handlers and no storage: the server loads the
// publishers, backs the ReplayGuard with its store, calls Verifier.Exchange
// from its token endpoint, writes the audit event from the Grant or Refusal,
// and mints the token.
package trustedpub

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
)

// Provider is the kind of CI identity a publisher trusts.
type Provider string

const (
	// GitHubActions: ID tokens of GitHub Actions (id-token: write).
	GitHubActions Provider = "github-actions"
	// GitLabCI: ID tokens of GitLab CI (id_tokens: in .gitlab-ci.yml).
	GitLabCI Provider = "gitlab-ci"
	// Generic: any issuer on the server's allow-list, matched on K=V claims.
	Generic Provider = "oidc"
)

// Issuers of the hosted CI services.
const (
	GitHubIssuer = "https://token.actions.githubusercontent.com"
	GitLabIssuer = "https://gitlab.com"
)

// DefaultTrustedIssuers is the allow-list when the operator names none.
var DefaultTrustedIssuers = []string{GitHubIssuer, GitLabIssuer}

// Token exchange names (RFC 8693).
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
)

// DefaultAudience is the aud an ID token must carry (server --oidc-audience).
const DefaultAudience = "codesync"

// Lifetimes of the exchanged token.
const (
	DefaultTokenLifetime = 15 * time.Minute
	MaxTokenLifetime     = time.Hour
)

// GrantedScopes: what every publisher grants, on its namespaces only.
var GrantedScopes = []string{"registry:publish", "registry:read"}

// reservedClaims cannot be matched on by a generic publisher: they are
// checked by the verifier itself or differ on every token.
var reservedClaims = []string{"iss", "aud", "exp", "iat", "nbf", "jti", "azp", "nonce"}

// Publisher is one trusted publisher: which CI identities may publish where.
type Publisher struct {
	ID         string   `json:"id"`
	Namespaces []string `json:"namespaces"` // @scope or @scope/name; at least one
	Provider   Provider `json:"provider"`
	// Issuer is the expected iss. Empty means the hosted service's issuer
	// (GitHubIssuer, GitLabIssuer); required for Generic. A self-managed
	// GitLab or GitHub Enterprise Server names its own.
	Issuer string `json:"issuer,omitempty"`
	// Repository: GitHub OWNER/REPO (claim repository), GitLab
	// GROUP/PROJECT (claim project_path).
	Repository string `json:"repository,omitempty"`
	// RepositoryID, when set, pins the numeric repository_id (GitHub) or
	// project_id (GitLab): a deleted and re-created repository of the same
	// name no longer matches.
	RepositoryID string `json:"repository_id,omitempty"`
	// Workflow: GitHub workflow file name, e.g. release.yml (matched against
	// job_workflow_ref). Not used for GitLab.
	Workflow string `json:"workflow,omitempty"`
	// Environment, when set, must equal the environment claim.
	Environment string `json:"environment,omitempty"`
	// Ref, when set, must equal the ref claim: GitHub refs/heads/BRANCH or
	// refs/tags/TAG; GitLab the bare branch or tag name.
	Ref string `json:"ref,omitempty"`
	// Claims (Generic only): every K must be present with value V.
	Claims    map[string]string `json:"claims,omitempty"`
	CreatedBy string            `json:"created_by,omitempty"`
	CreatedAt time.Time         `json:"created_at,omitzero"`
}

// ExpectedIssuer is the iss the publisher's tokens must carry.
func (p *Publisher) ExpectedIssuer() string {
	if p.Issuer != "" {
		return p.Issuer
	}
	switch p.Provider {
	case GitHubActions:
		return GitHubIssuer
	case GitLabCI:
		return GitLabIssuer
	}
	return ""
}

// Validate checks a publisher before it is stored: one-line errors for the
// CLI and API. trusted lists the server's allowed issuers.
func (p *Publisher) Validate(trusted []string) error {
	ns, err := keyrules.CheckNamespaces(p.Namespaces)
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		// An empty list means "no limit" to keyrules.NamespaceAllows.
		return errors.New("a trusted publisher needs at least one namespace (@scope or @scope/name)")
	}
	p.Namespaces = ns
	switch p.Provider {
	case GitHubActions:
		if !ownerRepo(p.Repository, false) {
			return fmt.Errorf("invalid GitHub repository %q: use OWNER/REPO", p.Repository)
		}
		if p.Workflow == "" || strings.ContainsAny(p.Workflow, "/@ ") ||
			!(strings.HasSuffix(p.Workflow, ".yml") || strings.HasSuffix(p.Workflow, ".yaml")) {
			return fmt.Errorf("invalid workflow %q: name the file in .github/workflows, e.g. release.yml", p.Workflow)
		}
		if p.Ref != "" && !strings.HasPrefix(p.Ref, "refs/heads/") && !strings.HasPrefix(p.Ref, "refs/tags/") {
			return fmt.Errorf("invalid ref %q: GitHub refs are refs/heads/BRANCH or refs/tags/TAG", p.Ref)
		}
	case GitLabCI:
		if !ownerRepo(p.Repository, true) {
			return fmt.Errorf("invalid GitLab project %q: use GROUP/PROJECT", p.Repository)
		}
		if p.Workflow != "" {
			return errors.New("--workflow is for GitHub; a GitLab publisher matches the project, ref and environment")
		}
		if strings.HasPrefix(p.Ref, "refs/") {
			return fmt.Errorf("invalid ref %q: GitLab's ref claim is the bare branch or tag name", p.Ref)
		}
	case Generic:
		if p.Issuer == "" {
			return errors.New("a generic publisher needs --issuer URL")
		}
		if p.Repository != "" || p.Workflow != "" || p.RepositoryID != "" {
			return errors.New("a generic publisher matches --claim K=V only")
		}
		if len(p.Claims) == 0 {
			return errors.New("a generic publisher needs at least one --claim K=V")
		}
		for k, v := range p.Claims {
			if k == "" || v == "" {
				return fmt.Errorf("invalid claim %q=%q: use K=V with both set", k, v)
			}
			if slices.Contains(reservedClaims, k) {
				return fmt.Errorf("claim %q is checked by the server itself and cannot be matched on", k)
			}
		}
	default:
		return fmt.Errorf("unknown provider %q: use %s, %s or %s", p.Provider, GitHubActions, GitLabCI, Generic)
	}
	if p.Provider != Generic && len(p.Claims) > 0 {
		return errors.New("--claim is for generic issuers only")
	}
	iss := p.ExpectedIssuer()
	if err := CheckIssuerURL(iss); err != nil {
		return err
	}
	if !slices.Contains(trusted, iss) {
		return fmt.Errorf("issuer %s is not trusted by this server (server --trusted-issuers)", iss)
	}
	return nil
}

// ownerRepo: OWNER/REPO for GitHub, GROUP[/SUBGROUP…]/PROJECT for GitLab.
func ownerRepo(s string, nested bool) bool {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || (!nested && len(parts) != 2) {
		return false
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return false
		}
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return false
			}
		}
	}
	return true
}

// CheckIssuerURL: an issuer is an https URL with no query or fragment;
// plain http only on a loopback address (tests and local stand-ins).
func CheckIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("invalid issuer %q: use an https URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "127.0.0.1" || h == "::1" || h == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("invalid issuer %q: use an https URL", s)
}

// ParseTrustedIssuers reads the server's --trusted-issuers URL,… list.
func ParseTrustedIssuers(list []string) ([]string, error) {
	out := []string{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if err := CheckIssuerURL(s); err != nil {
			return nil, err
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// ParseClaims reads --claim K=V flags.
func ParseClaims(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("invalid --claim %q: use K=V", kv)
		}
		out[k] = v
	}
	return out, nil
}

// Describe is a one-line summary for `trusted-publisher list`.
func (p *Publisher) Describe() string {
	var b strings.Builder
	switch p.Provider {
	case GitHubActions:
		fmt.Fprintf(&b, "github %s workflow %s", p.Repository, p.Workflow)
	case GitLabCI:
		fmt.Fprintf(&b, "gitlab %s", p.Repository)
	default:
		keys := make([]string, 0, len(p.Claims))
		for k := range p.Claims {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "issuer %s", p.Issuer)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, p.Claims[k])
		}
	}
	if p.Environment != "" {
		fmt.Fprintf(&b, " environment %s", p.Environment)
	}
	if p.Ref != "" {
		fmt.Fprintf(&b, " ref %s", p.Ref)
	}
	return b.String()
}

// workflowFile is the file name of a job_workflow_ref
// "OWNER/REPO/.github/workflows/FILE@REF", or "" when it has another shape.
func workflowFile(ref, repo string) (string, bool) {
	p, _, ok := strings.Cut(ref, "@")
	if !ok {
		return "", false
	}
	prefix := repo + "/.github/workflows/"
	if len(p) <= len(prefix) || !strings.EqualFold(p[:len(prefix)], prefix) {
		return "", false
	}
	f := p[len(prefix):]
	if f != path.Base(f) {
		return "", false
	}
	return f, true
}

// Flags are the options of `trusted-publisher add @scope[/name]`.
type Flags struct {
	Namespace   string   // the argument: @scope or @scope/name
	GitHub      string   // --github OWNER/REPO
	Workflow    string   // --workflow FILE
	GitLab      string   // --gitlab GROUP/PROJECT
	Issuer      string   // --issuer URL (generic; with --github or --gitlab: GitHub Enterprise Server or self-managed GitLab)
	Claims      []string // --claim K=V, repeatable (generic only)
	Environment string   // --environment NAME
	Ref         string   // --ref REF
}

// Publisher builds the publisher the flags describe, not yet validated
// against the server's trusted issuers (Validate does that).
func (f Flags) Publisher() (Publisher, error) {
	p := Publisher{Namespaces: []string{f.Namespace}, Issuer: f.Issuer, Environment: f.Environment, Ref: f.Ref}
	switch {
	case f.GitHub != "" && f.GitLab != "":
		return p, errors.New("use one of --github, --gitlab or --issuer with --claim")
	case f.GitHub != "":
		if f.Workflow == "" {
			return p, errors.New("--github needs --workflow FILE (the file in .github/workflows)")
		}
		p.Provider, p.Repository, p.Workflow = GitHubActions, f.GitHub, f.Workflow
	case f.GitLab != "":
		p.Provider, p.Repository, p.Workflow = GitLabCI, f.GitLab, f.Workflow
	case f.Issuer != "":
		p.Provider = Generic
	default:
		return p, errors.New("name the CI identity: --github OWNER/REPO --workflow FILE, --gitlab GROUP/PROJECT, or --issuer URL --claim K=V")
	}
	if len(f.Claims) > 0 {
		c, err := ParseClaims(f.Claims)
		if err != nil {
			return p, err
		}
		p.Claims = c
	}
	return p, nil
}
