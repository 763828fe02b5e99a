package policy_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/orgpolicy"
	"github.com/codesync/codesync-cli/pkg/policy"
)

var (
	nsUniverse   = []string{"@a", "@a/*", "@a/x", "@a/y", "@b", "@b/x"}
	cidrUniverse = []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "192.168.0.0/16", "2001:db8::/32", "2001:db8:1::/48"}
	pkgSamples   = []string{"@a/x", "@a/y", "@a/z", "@b/x", "@b/y", "@c/x"}
	addrSamples  = []string{"10.1.2.3", "10.1.2.4", "10.1.3.1", "10.2.0.1", "11.0.0.1", "192.168.1.1", "2001:db8:1::1", "2001:db8:2::1", "127.0.0.1", "::1"}
	now          = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
)

func subset(t *rapid.T, label string, from []string) []string {
	return rapid.SliceOfDistinct(rapid.SampledFrom(from), rapid.ID[string]).Draw(t, label)
}

// maybeNil draws nil (not given), an empty list (asks for no limit) or a subset.
func maybeNil(t *rapid.T, label string, from []string) []string {
	switch rapid.IntRange(0, 2).Draw(t, label+"_kind") {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	return subset(t, label, from)
}

func drawCeiling(t *rapid.T) policy.Ceiling {
	c := policy.Ceiling{
		Owner:       rapid.Int64Range(1, 3).Draw(t, "owner"),
		Scopes:      subset(t, "scopes", keyrules.Scopes),
		Namespaces:  subset(t, "namespaces", nsUniverse),
		CIDRs:       subset(t, "cidrs", cidrUniverse),
		Environment: rapid.SampledFrom([]string{policy.EnvProduction, policy.EnvSandbox}).Draw(t, "env"),
	}
	if rapid.Bool().Draw(t, "bounded") { // an API key or JWT; else an OAuth session
		c.ExpiresAt = now.Add(time.Duration(rapid.Int64Range(1, 400*24).Draw(t, "hours")) * time.Hour)
	}
	return c
}

func drawRequest(t *rapid.T) policy.Request {
	r := policy.Request{Now: now}
	r.Owner = rapid.Int64Range(0, 3).Draw(t, "req_owner")
	r.Scopes = subset(t, "req_scopes", keyrules.Scopes)
	r.Namespaces = maybeNil(t, "req_namespaces", nsUniverse)
	r.CIDRs = maybeNil(t, "req_cidrs", cidrUniverse)
	r.Environment = rapid.SampledFrom([]string{"", policy.EnvProduction, policy.EnvSandbox}).Draw(t, "req_env")
	if rapid.Bool().Draw(t, "req_has_expiry") {
		r.ExpiresAt = now.Add(time.Duration(rapid.Int64Range(1, 500*24).Draw(t, "req_hours")) * time.Hour)
	}
	// a create or a rotation refuses what is too much; a JWT's claims are narrowed
	r.Narrow = rapid.SampledFrom([]string{"create", "rotate", "register-jwt-key", "sign"}).Draw(t, "op") == "sign"
	return r
}

// within is written apart from the package's own logic: it checks by sample
// packages and addresses that every right of g is a right of c.
func within(t *rapid.T, c policy.Ceiling, g policy.Grant) {
	if g.Owner != c.Owner {
		t.Fatalf("owner %d, ceiling %d", g.Owner, c.Owner)
	}
	for _, s := range g.Scopes {
		if !slices.Contains(c.Scopes, s) {
			t.Fatalf("scope %s beyond %v", s, c.Scopes)
		}
	}
	for _, p := range pkgSamples {
		if keyrules.NamespaceAllows(g.Namespaces, p) && !keyrules.NamespaceAllows(c.Namespaces, p) {
			t.Fatalf("grant namespaces %v publish %s, ceiling %v does not", g.Namespaces, p, c.Namespaces)
		}
	}
	for _, a := range addrSamples {
		addr := netip.MustParseAddr(a)
		if keyrules.AllowedFrom(g.CIDRs, addr) && !keyrules.AllowedFrom(c.CIDRs, addr) {
			t.Fatalf("grant CIDRs %v allow %s, ceiling %v does not", g.CIDRs, a, c.CIDRs)
		}
	}
	if c.Environment == policy.EnvSandbox && g.Environment != policy.EnvSandbox {
		t.Fatalf("sandbox ceiling gave %s", g.Environment)
	}
	if !c.ExpiresAt.IsZero() && g.ExpiresAt.After(c.ExpiresAt) {
		t.Fatalf("expiry %s after the ceiling's %s", g.ExpiresAt, c.ExpiresAt)
	}
	if g.ExpiresAt.After(now.Add(keyrules.MaxExpiry)) {
		t.Fatalf("expiry %s beyond 365 days", g.ExpiresAt)
	}
}

// TestPropertyGrantsNeverExceedTheCeiling: for random ceilings and random
// create, rotate, JWT key registration and JWT sign requests, what Apply
// gives is never more than the ceiling; and a chain of grants (a key made by a
// key made by ...) stays inside the first ceiling.
func TestPropertyGrantsNeverExceedTheCeiling(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		root := drawCeiling(t)
		c := root
		for i := range rapid.IntRange(1, 4).Draw(t, "depth") {
			_ = i
			r := drawRequest(t)
			g, err := policy.Apply(c, r)
			if err != nil {
				var pe *policy.Error
				if !errors.As(err, &pe) || pe.Code != policy.CodeInsufficientScope || pe.Limit == "" || pe.Msg == "" {
					t.Fatalf("refusal without a named limit: %#v", err)
				}
				if r.Narrow {
					// only a foreign owner is refused when narrowing
					if pe.Limit != "owner" {
						t.Fatalf("narrowing refused: %v", err)
					}
				}
				return
			}
			within(t, c, g)
			within(t, root, g)
			c = g.Ceiling()
		}
	})
}

func TestRefusalsNameTheLimit(t *testing.T) {
	c := policy.Ceiling{Owner: 1, Scopes: []string{"keys:read", "keys:write"}, Namespaces: []string{"@acme-corp/internal"},
		CIDRs: []string{"127.0.0.1/32"}, Environment: policy.EnvSandbox, ExpiresAt: now.Add(time.Hour)}
	for _, tc := range []struct {
		name  string
		req   policy.Grant
		limit string
	}{
		{"scope", policy.Grant{Scopes: []string{"registry:publish"}}, "scopes"},
		{"no namespace", policy.Grant{Scopes: []string{"keys:read"}, Namespaces: []string{}}, "namespaces"},
		{"other namespace", policy.Grant{Scopes: []string{"keys:read"}, Namespaces: []string{"@other"}}, "namespaces"},
		{"anywhere", policy.Grant{Scopes: []string{"keys:read"}, CIDRs: []string{}}, "cidrs"},
		{"wider network", policy.Grant{Scopes: []string{"keys:read"}, CIDRs: []string{"127.0.0.0/8"}}, "cidrs"},
		{"production", policy.Grant{Scopes: []string{"keys:read"}, Environment: policy.EnvProduction}, "environment"},
		{"longer", policy.Grant{Scopes: []string{"keys:read"}, ExpiresAt: now.Add(365 * 24 * time.Hour)}, "expiry"},
		{"another user", policy.Grant{Owner: 2, Scopes: []string{"keys:read"}}, "owner"},
	} {
		_, err := policy.Apply(c, policy.Request{Grant: tc.req, Now: now})
		var pe *policy.Error
		if !errors.As(err, &pe) || pe.Limit != tc.limit {
			t.Errorf("%s: want a refusal of %s, got %v", tc.name, tc.limit, err)
		}
	}
	// nothing given: everything inherited
	g, err := policy.Apply(c, policy.Request{Grant: policy.Grant{Scopes: []string{"keys:read"}}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Namespaces, c.Namespaces) || !slices.Equal(g.CIDRs, c.CIDRs) || g.Environment != policy.EnvSandbox || !g.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("not inherited: %+v", g)
	}
}

func TestOrganizationRuleRunsInTheSameCall(t *testing.T) {
	maxWeek := policy.RuleFunc(func(c policy.Ceiling, g policy.Grant, narrow bool) (policy.Grant, error) {
		if g.ExpiresAt.After(now.Add(7 * 24 * time.Hour)) {
			return g, &policy.Error{Code: policy.CodePolicyViolation, Limit: "max-lifetime", Msg: "the organization allows keys of at most 7 days"}
		}
		return g, nil
	})
	c := policy.Ceiling{Owner: 1, Scopes: []string{"keys:read"}, Environment: policy.EnvProduction}
	_, err := policy.Apply(c, policy.Request{Grant: policy.Grant{Scopes: []string{"keys:read"}}, Now: now}, maxWeek)
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Code != policy.CodePolicyViolation {
		t.Fatalf("want a policy violation, got %v", err)
	}
}

// drawOrgs draws a member's organizations: the scopes each owns and a random
// policy (each setting unset or drawn).
func drawOrgs(t *rapid.T) []orgpolicy.Org {
	var orgs []orgpolicy.Org
	for i := range rapid.IntRange(0, 2).Draw(t, "orgs") {
		o := orgpolicy.Org{Slug: fmt.Sprint("org", i), Scopes: subset(t, "org_scopes", []string{"@a", "@b", "@c"})}
		if rapid.Bool().Draw(t, "has_allowed") {
			o.Policy.AllowedScopes = subset(t, "allowed", keyrules.Scopes)
		}
		if rapid.Bool().Draw(t, "has_required") {
			o.Policy.RequiredCIDRs = subset(t, "required", cidrUniverse)
		}
		if rapid.Bool().Draw(t, "has_lifetime") {
			o.Policy.MaxLifetime = time.Duration(rapid.Int64Range(1, 400).Draw(t, "max_days")) * 24 * time.Hour
		}
		if rapid.Bool().Draw(t, "has_max_keys") {
			o.Policy.MaxKeys = rapid.IntRange(1, orgpolicy.MaxKeysCeiling).Draw(t, "max_keys")
			o.ActiveKeys = rapid.IntRange(0, orgpolicy.MaxKeysCeiling).Draw(t, "active_keys")
		}
		orgs = append(orgs, o)
	}
	return orgs
}

// withinPolicies checks, apart from the rule's own logic, that g breaks no
// policy of an organization it reaches.
// keys: g is a new API key (max-keys applies); lifetime: its expiry is
// bounded by max-lifetime (a key, or a narrowed JWT).
func withinPolicies(t *rapid.T, orgs []orgpolicy.Org, g policy.Grant, keys, lifetime bool) {
	for _, o := range orgs {
		if !orgpolicy.Reaches(g.Namespaces, o.Scopes) {
			continue
		}
		p := o.Policy
		if p.AllowedScopes != nil {
			for _, s := range g.Scopes {
				if !slices.Contains(p.AllowedScopes, s) {
					t.Fatalf("%s: scope %s beyond allowed %v", o.Slug, s, p.AllowedScopes)
				}
			}
		}
		if p.RequiredCIDRs != nil {
			if len(g.CIDRs) == 0 {
				t.Fatalf("%s: usable from anywhere under required-cidrs %v", o.Slug, p.RequiredCIDRs)
			}
			for _, a := range addrSamples {
				addr := netip.MustParseAddr(a)
				if keyrules.AllowedFrom(g.CIDRs, addr) && !keyrules.AllowedFrom(p.RequiredCIDRs, addr) {
					t.Fatalf("%s: CIDRs %v allow %s, required-cidrs %v do not", o.Slug, g.CIDRs, a, p.RequiredCIDRs)
				}
			}
		}
		if lifetime && p.MaxLifetime > 0 && g.ExpiresAt.After(now.Add(p.MaxLifetime)) {
			t.Fatalf("%s: expiry %s beyond max-lifetime %s", o.Slug, g.ExpiresAt, p.MaxLifetime)
		}
		if keys && p.MaxKeys > 0 && o.ActiveKeys >= p.MaxKeys {
			t.Fatalf("%s: a key given at %d of max-keys %d", o.Slug, o.ActiveKeys, p.MaxKeys)
		}
	}
}

// TestPropertyGrantsNeverExceedCeilingAndPolicies: with random organization
// policies added as the organizations' Rule, what Apply gives is inside the
// ceiling and inside the policy of every organization the grant reaches
// (ceiling ∩ policy), for keys (create, rotate), JWT key registrations and
// narrowed JWTs; and a refusal names its limit.
func TestPropertyGrantsNeverExceedCeilingAndPolicies(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawCeiling(t)
		orgs := drawOrgs(t)
		r := drawRequest(t)
		keys := !r.Narrow && rapid.Bool().Draw(t, "api_key") // else a JWT key registration
		g, err := policy.Apply(c, r, orgpolicy.Rule(orgs, now, keys))
		if err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) || pe.Limit == "" || pe.Msg == "" {
				t.Fatalf("refusal without a named limit: %#v", err)
			}
			if r.Narrow && pe.Limit != "owner" {
				t.Fatalf("narrowing refused: %v", err)
			}
			if pe.Code == policy.CodePolicyViolation && !slices.Contains([]string{orgpolicy.RuleMaxLifetime, orgpolicy.RuleAllowedScopes, orgpolicy.RuleRequiredCIDRs, orgpolicy.RuleMaxKeys}, pe.Limit) {
				t.Fatalf("policy violation names no rule: %#v", pe)
			}
			return
		}
		within(t, c, g)
		withinPolicies(t, orgs, g, keys, keys || r.Narrow)
	})
}
