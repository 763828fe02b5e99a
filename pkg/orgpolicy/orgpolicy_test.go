package orgpolicy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestCheck(t *testing.T) {
	strict := Policy{MaxLifetime: 30 * day, AllowedScopes: []string{"registry:read", "registry:publish"},
		RequiredCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}, MaxKeys: 3}
	ok := Grant{Scopes: []string{"registry:read"}, CIDRs: []string{"10.1.0.0/16"}, Lifetime: 30 * day, ActiveKeys: 2}
	tests := []struct {
		name string
		p    Policy
		g    func(g Grant) Grant
		rule string // "" = allowed
	}{
		{"empty policy allows anything", Policy{}, func(g Grant) Grant {
			g.Scopes, g.CIDRs, g.Lifetime, g.ActiveKeys = []string{"keys:write"}, nil, 365*day, 11
			return g
		}, ""},
		{"compliant", strict, func(g Grant) Grant { return g }, ""},
		{"lifetime at the limit", strict, func(g Grant) Grant { g.Lifetime = 30 * day; return g }, ""},
		{"lifetime one second over", strict, func(g Grant) Grant { g.Lifetime = 30*day + time.Second; return g }, RuleMaxLifetime},
		{"scope not allowed", strict, func(g Grant) Grant { g.Scopes = []string{"registry:read", "keys:write"}; return g }, RuleAllowedScopes},
		{"empty allowed list allows nothing", Policy{AllowedScopes: []string{}}, func(g Grant) Grant { return g }, RuleAllowedScopes},
		{"no CIDRs", strict, func(g Grant) Grant { g.CIDRs = nil; return g }, RuleRequiredCIDRs},
		{"CIDR wider than the allowed network", strict, func(g Grant) Grant { g.CIDRs = []string{"10.0.0.0/7"}; return g }, RuleRequiredCIDRs},
		{"CIDR outside", strict, func(g Grant) Grant { g.CIDRs = []string{"10.0.0.0/8", "192.0.2.0/24"}; return g }, RuleRequiredCIDRs},
		{"IPv6 inside", strict, func(g Grant) Grant { g.CIDRs = []string{"2001:db8:1::/48"}; return g }, ""},
		{"IPv4-mapped is not IPv4 inside", Policy{RequiredCIDRs: []string{"::ffff:0:0/96"}}, func(g Grant) Grant { g.CIDRs = []string{"10.0.0.0/8"}; return g }, RuleRequiredCIDRs},
		{"at max keys", strict, func(g Grant) Grant { g.ActiveKeys = 3; return g }, RuleMaxKeys},
		{"first rule wins", strict, func(g Grant) Grant { g.Lifetime, g.ActiveKeys = 90*day, 5; return g }, RuleMaxLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check("acme-corp", tt.p, tt.g(ok))
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var v *Violation
			if !errors.As(err, &v) || v.Rule != tt.rule {
				t.Fatalf("got %v, want a %s violation", err, tt.rule)
			}
			if !strings.Contains(err.Error(), tt.rule) || !strings.Contains(err.Error(), "acme-corp") {
				t.Fatalf("message %q does not name the rule and the organization", err)
			}
		})
	}
}

func TestViolationsListsAllButKeys(t *testing.T) {
	p := Policy{MaxLifetime: day, AllowedScopes: []string{"registry:read"}, RequiredCIDRs: []string{"10.0.0.0/8"}, MaxKeys: 1}
	v := Violations("o", p, Grant{Scopes: []string{"keys:read"}, Lifetime: 2 * day, ActiveKeys: 9})
	var rules []string
	for _, x := range v {
		rules = append(rules, x.Rule)
	}
	if got := strings.Join(rules, ","); got != "max-lifetime,allowed-scopes,required-cidrs" {
		t.Fatalf("rules %s", got)
	}
	if OverLimit(p, 3) != 2 || OverLimit(p, 1) != 0 || OverLimit(Policy{}, 50) != 0 {
		t.Fatal("OverLimit")
	}
}

func TestReaches(t *testing.T) {
	org := []string{"@acme-corp", "@acme-labs"}
	for _, tt := range []struct {
		ns   []string
		want bool
	}{
		{nil, true},
		{[]string{"@acme-corp"}, true},
		{[]string{"@acme-corp/*"}, true},
		{[]string{"@other", "@acme-labs/pkg"}, true},
		{[]string{"@acme-corpx"}, false},
		{[]string{"@other/acme-corp"}, false},
	} {
		if got := Reaches(tt.ns, org); got != tt.want {
			t.Errorf("Reaches(%v) = %v", tt.ns, got)
		}
	}
	if Reaches(nil, nil) {
		t.Error("an organization without scopes is reached by no key")
	}
}

func TestFormatDuration(t *testing.T) {
	if FormatDuration(30*day) != "30d" || FormatDuration(36*time.Hour) != "36h0m0s" {
		t.Fatal(FormatDuration(30*day), FormatDuration(36*time.Hour))
	}
}
