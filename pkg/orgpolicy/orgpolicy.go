// Package orgpolicy is an organization's policy over the keys of its members:
// maximum lifetime, allowed scopes, required CIDR allow-list, maximum active
// keys per member. Rule makes the policies of a member's organizations one
// more policy.Rule of the one ceiling rule (policy.Apply), which key creation,
// rotation, JWT key registration and JWT verification call; Violations lists
// what existing keys break when a policy is tightened. Everything here reads
// nothing but its arguments.
package orgpolicy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/policy"
)

// Rule names, as `org policy set` spells its flags; a policy_violation names one.
const (
	RuleMaxLifetime   = "max-lifetime"
	RuleAllowedScopes = "allowed-scopes"
	RuleRequiredCIDRs = "required-cidrs"
	RuleMaxKeys       = "max-keys"
)

// MaxKeysCeiling bounds max-keys: no member holds more than a user may.
const MaxKeysCeiling = 12

// Policy is an organization's settings. A zero or nil field is unset.
type Policy struct {
	MaxLifetime   time.Duration // 0: no limit beyond the server's
	AllowedScopes []string      // nil: any scope
	RequiredCIDRs []string      // nil: any address; else every key CIDR must lie inside one of these
	MaxKeys       int           // 0: no limit beyond the server's
}

// Grant is a key as it is requested (or as it stands, for Violations).
type Grant struct {
	Scopes     []string
	Namespaces []string
	CIDRs      []string
	Lifetime   time.Duration // from creation (or rotation) to expiry
	// ActiveKeys is how many other active keys of the member reach the
	// organization: the new key would be one more. A rotation does not count
	// the key it replaces.
	ActiveKeys int
}

// Violation is a refusal naming the rule broken.
type Violation struct {
	Org    string // slug
	Rule   string // Rule*
	Detail string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("the organization %s's policy %s forbids this key: %s", v.Org, v.Rule, v.Detail)
}

// Check returns nil when g complies with p, else the first rule broken (in
// the order max-lifetime, allowed-scopes, required-cidrs, max-keys).
func Check(org string, p Policy, g Grant) error {
	if v := violations(org, p, g, true); len(v) > 0 {
		return v[0]
	}
	return nil
}

// Violations lists every rule an existing key breaks (keys count excluded:
// which keys exceed max-keys is decided over the member's keys as a whole,
// see OverLimit).
func Violations(org string, p Policy, g Grant) []*Violation {
	return violations(org, p, g, false)
}

func violations(org string, p Policy, g Grant, countKeys bool) []*Violation {
	var out []*Violation
	add := func(rule, format string, a ...any) {
		out = append(out, &Violation{Org: org, Rule: rule, Detail: fmt.Sprintf(format, a...)})
	}
	if p.MaxLifetime > 0 && g.Lifetime > p.MaxLifetime {
		add(RuleMaxLifetime, "keys live at most %s (asked: %s)", FormatDuration(p.MaxLifetime), FormatDuration(g.Lifetime))
	}
	if p.AllowedScopes != nil {
		var extra []string
		for _, s := range g.Scopes {
			if !slices.Contains(p.AllowedScopes, s) {
				extra = append(extra, s)
			}
		}
		if len(extra) > 0 {
			add(RuleAllowedScopes, "scopes %s are not allowed (allowed: %s)", strings.Join(extra, ","), listOrNone(p.AllowedScopes))
		}
	}
	if p.RequiredCIDRs != nil {
		switch bad := outside(g.CIDRs, p.RequiredCIDRs); {
		case len(g.CIDRs) == 0:
			add(RuleRequiredCIDRs, "keys must carry CIDRs inside %s (the key has none)", strings.Join(p.RequiredCIDRs, ","))
		case len(bad) > 0:
			add(RuleRequiredCIDRs, "CIDRs %s are outside %s", strings.Join(bad, ","), strings.Join(p.RequiredCIDRs, ","))
		}
	}
	if countKeys && p.MaxKeys > 0 && g.ActiveKeys >= p.MaxKeys {
		add(RuleMaxKeys, "a member holds at most %d active keys for the organization (holds %d)", p.MaxKeys, g.ActiveKeys)
	}
	return out
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

// outside returns the key CIDRs not contained in any allowed network.
func outside(cidrs, allowed []string) []string {
	var bad []string
	for _, c := range cidrs {
		kp, err := netip.ParsePrefix(c)
		if err != nil {
			bad = append(bad, c)
			continue
		}
		ok := false
		for _, a := range allowed {
			ap, err := netip.ParsePrefix(a)
			if err == nil && ap.Addr().Is4() == kp.Addr().Is4() && ap.Bits() <= kp.Bits() && ap.Contains(kp.Addr()) {
				ok = true
				break
			}
		}
		if !ok {
			bad = append(bad, c)
		}
	}
	return bad
}

// OverLimit returns how many of a member's n active keys exceed max (the
// newest ones are marked).
func OverLimit(p Policy, n int) int {
	if p.MaxKeys <= 0 || n <= p.MaxKeys {
		return 0
	}
	return n - p.MaxKeys
}

// Reaches reports whether a key limited to namespaces can publish into one of
// the organization's scopes (@scope). A key without namespaces reaches every
// scope, so every organization of its owner.
func Reaches(namespaces, orgScopes []string) bool {
	if len(namespaces) == 0 {
		return len(orgScopes) > 0
	}
	for _, n := range namespaces {
		scope, _, _ := strings.Cut(n, "/")
		if slices.Contains(orgScopes, scope) {
			return true
		}
	}
	return false
}

// FormatDuration writes d as the CLI reads it: whole days as Nd, else a Go
// duration.
func FormatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// Org is one organization of a member as the ceiling rule sees it.
type Org struct {
	Slug   string
	Policy Policy
	Scopes []string // the npm scopes it owns (@scope)
	// ActiveKeys is how many other active keys of the member reach the
	// organization (counted only when the grant is a new API key).
	ActiveKeys int
}

// Rule is the organizations' part of the one ceiling rule (policy.Apply):
// every organization whose scopes the grant reaches bounds it by its policy.
// now is the request's time (a grant's lifetime runs from it). keys says the
// grant is a new API key (a create or a rotation): then max-lifetime and
// max-keys apply as well as allowed-scopes and required-cidrs; a JWT signing
// key registration is checked against allowed-scopes and required-cidrs.
//
// Refusing (narrow false), the first rule broken is a policy.Error with
// policy.CodePolicyViolation whose Limit is the rule's name. Narrowing (a
// JWT's claims), the grant is cut down instead: its scopes to the allowed
// ones, its CIDRs into the required networks, its expiry to max-lifetime.
func Rule(orgs []Org, now time.Time, keys bool) policy.Rule {
	return policy.RuleFunc(func(c policy.Ceiling, g policy.Grant, narrow bool) (policy.Grant, error) {
		for _, o := range orgs {
			if !Reaches(g.Namespaces, o.Scopes) {
				continue
			}
			if narrow {
				g = narrowTo(o.Policy, g, now)
				continue
			}
			pg := Grant{Scopes: g.Scopes, Namespaces: g.Namespaces, CIDRs: g.CIDRs}
			p := o.Policy
			if keys {
				pg.Lifetime, pg.ActiveKeys = g.ExpiresAt.Sub(now), o.ActiveKeys
			} else {
				p.MaxLifetime, p.MaxKeys = 0, 0
			}
			if v := violations(o.Slug, p, pg, true); len(v) > 0 {
				return policy.Grant{}, &policy.Error{Code: policy.CodePolicyViolation, Limit: v[0].Rule, Msg: v[0].Error()}
			}
		}
		return g, nil
	})
}

// narrowTo cuts g down to what policy p allows, through the same bounds as a
// credential's ceiling: the policy read as a ceiling.
func narrowTo(p Policy, g policy.Grant, now time.Time) policy.Grant {
	pc := policy.Ceiling{Owner: g.Owner, Scopes: g.Scopes, CIDRs: p.RequiredCIDRs, Environment: g.Environment}
	if p.AllowedScopes != nil {
		pc.Scopes = p.AllowedScopes
	}
	if p.MaxLifetime > 0 {
		pc.ExpiresAt = now.Add(p.MaxLifetime)
	}
	out, err := policy.Apply(pc, policy.Request{Grant: g, Now: now, Narrow: true})
	if err != nil { // cannot happen: narrowing refuses only another owner
		out = g
		out.Scopes = []string{}
	}
	if p.RequiredCIDRs != nil && len(p.RequiredCIDRs) == 0 {
		out.CIDRs = []string{policy.NoNetwork} // required inside no network: usable nowhere
	}
	return out
}
