package federation

import (
	"slices"
	"sort"
	"strings"
)

// Role is an organization role.
type Role string

// Organization roles, highest first.
const (
	RoleOwner   Role = "owner"
	RoleAdmin   Role = "admin"
	RoleMember  Role = "member"
	RoleAuditor Role = "auditor"
)

// rank orders roles for "the highest role wins": owner > admin > member >
// auditor. An unknown role ranks 0.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 4
	case RoleAdmin:
		return 3
	case RoleMember:
		return 2
	case RoleAuditor:
		return 1
	}
	return 0
}

// Desired is what the mapping rules grant a user at one sign-in or refresh.
type Desired struct {
	// Memberships maps organization slug to role. When several rules name
	// the same organization, the highest role wins.
	Memberships map[string]Role
	// ScopesLimited is true when at least one rule matched and every matching
	// rule has max_scopes; MaxScopes is then the union of their max_scopes
	// (sorted). A matching rule without max_scopes lifts the ceiling, and a
	// user no rule matches gets no ceiling from federation (but no
	// memberships either).
	ScopesLimited bool
	MaxScopes     []string
}

// Resolve applies rules to the groups a user has at provider providerID.
// Group names compare exactly, or case-insensitively when fold is set
// (GitHub and GitLab paths are case-insensitive). It is a pure function.
func Resolve(rules []Mapping, providerID string, groups []string, fold bool) Desired {
	d := Desired{Memberships: map[string]Role{}}
	has := func(g string) bool {
		for _, x := range groups {
			if x == g || (fold && strings.EqualFold(x, g)) {
				return true
			}
		}
		return false
	}
	matched, unlimited := false, false
	scopes := map[string]bool{}
	for _, r := range rules {
		if r.Provider != providerID || !has(r.Group) {
			continue
		}
		matched = true
		if cur, ok := d.Memberships[r.Org]; !ok || r.Role.rank() > cur.rank() {
			d.Memberships[r.Org] = r.Role
		}
		if r.MaxScopes == nil {
			unlimited = true
		}
		for _, s := range r.MaxScopes {
			scopes[s] = true
		}
	}
	if matched && !unlimited {
		d.ScopesLimited = true
		d.MaxScopes = make([]string, 0, len(scopes))
		for s := range scopes {
			d.MaxScopes = append(d.MaxScopes, s)
		}
		sort.Strings(d.MaxScopes)
	}
	return d
}

// Membership is a user's current membership of an organization as the
// server stores it. Source is the id of the identity provider whose mapping
// created it, or "" for a membership an administrator added by hand.
type Membership struct {
	Org    string
	Role   Role
	Source string
}

// ChangeKind says what Diff wants done to one membership.
type ChangeKind string

// Change kinds.
const (
	ChangeAdd    ChangeKind = "add"
	ChangeRole   ChangeKind = "change"
	ChangeRemove ChangeKind = "remove"
)

// Change is one step to bring the memberships in line with the rules. For
// add and change, Role is the new role (and Source the provider to record);
// OldRole is the role before a change or remove.
type Change struct {
	Kind    ChangeKind
	Org     string
	Role    Role
	OldRole Role
	Source  string
}

// Diff compares a user's current memberships with what the rules of
// provider providerID grant and returns the changes, sorted by organization.
// Only memberships that provider created (Source == providerID) are changed
// or removed; a membership added by hand or by another provider is left as
// it is, and the rules do not add a second one for the same organization.
func Diff(providerID string, current []Membership, desired Desired) []Change {
	var out []Change
	have := map[string]Membership{}
	for _, m := range current {
		have[m.Org] = m
	}
	for _, m := range current {
		if m.Source != providerID {
			continue
		}
		role, ok := desired.Memberships[m.Org]
		switch {
		case !ok:
			out = append(out, Change{Kind: ChangeRemove, Org: m.Org, OldRole: m.Role, Source: providerID})
		case role != m.Role:
			out = append(out, Change{Kind: ChangeRole, Org: m.Org, Role: role, OldRole: m.Role, Source: providerID})
		}
	}
	for org, role := range desired.Memberships {
		if _, ok := have[org]; !ok {
			out = append(out, Change{Kind: ChangeAdd, Org: org, Role: role, Source: providerID})
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Org, b.Org) })
	return out
}
