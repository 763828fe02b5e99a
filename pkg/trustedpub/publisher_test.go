package trustedpub_test

import (
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

func TestPublisherValidate(t *testing.T) {
	trusted := trustedpub.DefaultTrustedIssuers
	gh := func(mod func(*trustedpub.Publisher)) trustedpub.Publisher {
		p := trustedpub.Publisher{Namespaces: []string{"@acme"}, Provider: trustedpub.GitHubActions, Repository: "acme/widgets", Workflow: "release.yml"}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	ok := []trustedpub.Publisher{
		gh(nil),
		gh(func(p *trustedpub.Publisher) { p.Environment = "release"; p.Ref = "refs/tags/v1" }),
		{Namespaces: []string{"@gl/pkg"}, Provider: trustedpub.GitLabCI, Repository: "group/sub/project", Ref: "main"},
		{Namespaces: []string{"@x"}, Provider: trustedpub.Generic, Issuer: trustedpub.GitLabIssuer, Claims: map[string]string{"sub": "a"}},
	}
	for _, p := range ok {
		if err := p.Validate(trusted); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	bad := map[string]trustedpub.Publisher{
		"at least one namespace":   gh(func(p *trustedpub.Publisher) { p.Namespaces = nil }),
		"invalid namespace":        gh(func(p *trustedpub.Publisher) { p.Namespaces = []string{"acme"} }),
		"OWNER/REPO":               gh(func(p *trustedpub.Publisher) { p.Repository = "acme" }),
		"use OWNER/REPO":           gh(func(p *trustedpub.Publisher) { p.Repository = "a/b/c" }),
		"invalid workflow":         gh(func(p *trustedpub.Publisher) { p.Workflow = ".github/workflows/release.yml" }),
		"refs/heads/BRANCH":        gh(func(p *trustedpub.Publisher) { p.Ref = "main" }),
		"not trusted":              gh(func(p *trustedpub.Publisher) { p.Issuer = "https://ghes.example" }),
		"https URL":                gh(func(p *trustedpub.Publisher) { p.Issuer = "http://ghes.example" }),
		"generic issuers only":     gh(func(p *trustedpub.Publisher) { p.Claims = map[string]string{"a": "b"} }),
		"unknown provider":         gh(func(p *trustedpub.Publisher) { p.Provider = "jenkins" }),
		"bare branch":              {Namespaces: []string{"@g"}, Provider: trustedpub.GitLabCI, Repository: "g/p", Ref: "refs/heads/main"},
		"--workflow is for":        {Namespaces: []string{"@g"}, Provider: trustedpub.GitLabCI, Repository: "g/p", Workflow: "x.yml"},
		"needs --issuer":           {Namespaces: []string{"@g"}, Provider: trustedpub.Generic, Claims: map[string]string{"sub": "a"}},
		"at least one --claim":     {Namespaces: []string{"@g"}, Provider: trustedpub.Generic, Issuer: trustedpub.GitLabIssuer},
		"checked by the server":    {Namespaces: []string{"@g"}, Provider: trustedpub.Generic, Issuer: trustedpub.GitLabIssuer, Claims: map[string]string{"aud": "codesync"}},
		"matches --claim K=V only": {Namespaces: []string{"@g"}, Provider: trustedpub.Generic, Issuer: trustedpub.GitLabIssuer, Claims: map[string]string{"sub": "a"}, Repository: "a/b"},
	}
	for want, p := range bad {
		err := p.Validate(trusted)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want %q", p, err, want)
		}
	}
}

func TestParseClaimsAndIssuers(t *testing.T) {
	c, err := trustedpub.ParseClaims([]string{"sub=repo:a/b:ref:refs/heads/main", "x=y=z"})
	if err != nil || c["sub"] != "repo:a/b:ref:refs/heads/main" || c["x"] != "y=z" {
		t.Errorf("%v %v", c, err)
	}
	if _, err := trustedpub.ParseClaims([]string{"novalue"}); err == nil {
		t.Error("K without =V accepted")
	}
	iss, err := trustedpub.ParseTrustedIssuers([]string{" https://a.example ", "", "https://a.example", "http://127.0.0.1:8080"})
	if err != nil || len(iss) != 2 {
		t.Errorf("%v %v", iss, err)
	}
	for _, s := range []string{"http://a.example", "https://a.example?x=1", "ftp://a", "https://user@a.example"} {
		if _, err := trustedpub.ParseTrustedIssuers([]string{s}); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}

func TestFlagsPublisher(t *testing.T) {
	trusted := []string{trustedpub.GitHubIssuer, trustedpub.GitLabIssuer, "https://ci.example"}
	ok := map[string]trustedpub.Flags{
		"github acme/widgets workflow release.yml environment release ref refs/tags/v1": {Namespace: "@acme", GitHub: "acme/widgets", Workflow: "release.yml", Environment: "release", Ref: "refs/tags/v1"},
		"gitlab g/sub/p ref main":                {Namespace: "@g/pkg", GitLab: "g/sub/p", Ref: "main"},
		"issuer https://ci.example sub=a team=b": {Namespace: "@x", Issuer: "https://ci.example", Claims: []string{"team=b", "sub=a"}},
	}
	for want, f := range ok {
		p, err := f.Publisher()
		if err == nil {
			err = p.Validate(trusted)
		}
		if err != nil || p.Describe() != want {
			t.Errorf("%+v: %q %v, want %q", f, p.Describe(), err, want)
		}
	}
	bad := map[string]trustedpub.Flags{
		"name the CI identity": {Namespace: "@acme"},
		"needs --workflow":     {Namespace: "@acme", GitHub: "acme/widgets"},
		"use one of":           {Namespace: "@acme", GitHub: "acme/widgets", Workflow: "r.yml", GitLab: "g/p"},
		"use K=V":              {Namespace: "@acme", Issuer: "https://ci.example", Claims: []string{"sub"}},
		"--claim is for":       {Namespace: "@acme", GitHub: "acme/widgets", Workflow: "r.yml", Claims: []string{"sub=x"}},
		"invalid namespace":    {Namespace: "acme", GitLab: "g/p"},
	}
	for want, f := range bad {
		p, err := f.Publisher()
		if err == nil {
			err = p.Validate(trusted)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", f, err, want)
		}
	}
}
