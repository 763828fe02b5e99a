package federation

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	rules := []Mapping{
		{Provider: "sso", Group: "platform", Org: "acme", Role: RoleAdmin, MaxScopes: []string{"keys:read", "keys:write"}},
		{Provider: "sso", Group: "everyone", Org: "acme", Role: RoleMember, MaxScopes: []string{"registry:read", "keys:read"}},
		{Provider: "sso", Group: "auditors", Org: "acme", Role: RoleAuditor, MaxScopes: []string{"audit:read"}},
		{Provider: "sso", Group: "labs", Org: "labs", Role: RoleOwner},
		{Provider: "other", Group: "platform", Org: "other-org", Role: RoleOwner, MaxScopes: []string{"keys:write"}},
	}
	for _, tc := range []struct {
		name    string
		groups  []string
		fold    bool
		members map[string]Role
		limited bool
		scopes  []string
	}{
		{"no group", nil, false, map[string]Role{}, false, nil},
		{"unmapped groups", []string{"sales"}, false, map[string]Role{}, false, nil},
		{"one rule", []string{"everyone"}, false, map[string]Role{"acme": RoleMember}, true, []string{"keys:read", "registry:read"}},
		{"highest role wins, scopes are the union", []string{"auditors", "everyone", "platform"}, false,
			map[string]Role{"acme": RoleAdmin}, true, []string{"audit:read", "keys:read", "keys:write", "registry:read"}},
		{"a rule without max_scopes lifts the ceiling", []string{"everyone", "labs"}, false,
			map[string]Role{"acme": RoleMember, "labs": RoleOwner}, false, nil},
		{"exact names without fold", []string{"Platform"}, false, map[string]Role{}, false, nil},
		{"fold for GitHub and GitLab", []string{"Platform"}, true, map[string]Role{"acme": RoleAdmin}, true, []string{"keys:read", "keys:write"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Resolve(rules, "sso", tc.groups, tc.fold)
			if len(d.Memberships) != len(tc.members) {
				t.Fatalf("memberships %v, want %v", d.Memberships, tc.members)
			}
			for org, r := range tc.members {
				if d.Memberships[org] != r {
					t.Fatalf("memberships %v, want %v", d.Memberships, tc.members)
				}
			}
			if d.ScopesLimited != tc.limited || !slices.Equal(d.MaxScopes, tc.scopes) {
				t.Fatalf("scopes %v %q, want %v %q", d.ScopesLimited, d.MaxScopes, tc.limited, tc.scopes)
			}
		})
	}
	// Rule order does not matter.
	a := Resolve(rules, "sso", []string{"platform", "everyone", "auditors"}, false)
	rev := slices.Clone(rules)
	slices.Reverse(rev)
	b := Resolve(rev, "sso", []string{"platform", "everyone", "auditors"}, false)
	if a.Memberships["acme"] != b.Memberships["acme"] || !slices.Equal(a.MaxScopes, b.MaxScopes) {
		t.Fatalf("order matters: %+v vs %+v", a, b)
	}
	// An explicit empty max_scopes limits to nothing.
	d := Resolve([]Mapping{{Provider: "sso", Group: "g", Org: "o", Role: RoleMember, MaxScopes: []string{}}}, "sso", []string{"g"}, false)
	if !d.ScopesLimited || len(d.MaxScopes) != 0 {
		t.Fatalf("empty max_scopes: %+v", d)
	}
}

func TestDiff(t *testing.T) {
	current := []Membership{
		{Org: "keep", Role: RoleMember, Source: "sso"},
		{Org: "promote", Role: RoleMember, Source: "sso"},
		{Org: "drop", Role: RoleAdmin, Source: "sso"},
		{Org: "manual", Role: RoleAuditor, Source: ""},
		{Org: "manual-gone", Role: RoleOwner, Source: ""},
		{Org: "other-idp", Role: RoleMember, Source: "github"},
	}
	desired := Desired{Memberships: map[string]Role{
		"keep": RoleMember, "promote": RoleAdmin, "new": RoleMember, "manual": RoleAdmin, "other-idp": RoleOwner,
	}}
	got := Diff("sso", current, desired)
	want := []Change{
		{Kind: ChangeRemove, Org: "drop", OldRole: RoleAdmin, Source: "sso"},
		{Kind: ChangeAdd, Org: "new", Role: RoleMember, Source: "sso"},
		{Kind: ChangeRole, Org: "promote", Role: RoleAdmin, OldRole: RoleMember, Source: "sso"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("diff\n got %+v\nwant %+v", got, want)
	}
}

// TestDiffReachesDesired: applying the diff to any current memberships
// gives exactly the desired ones for the organizations the provider may
// manage, leaves the others alone, and a second diff is empty.
func TestDiffReachesDesired(t *testing.T) {
	orgs := []string{"a", "b", "c", "d", "e"}
	roles := []Role{RoleOwner, RoleAdmin, RoleMember, RoleAuditor}
	sources := []string{"sso", "", "github"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		var current []Membership
		desired := Desired{Memberships: map[string]Role{}}
		for _, o := range orgs {
			if r.IntN(2) == 0 {
				current = append(current, Membership{Org: o, Role: roles[r.IntN(4)], Source: sources[r.IntN(3)]})
			}
			if r.IntN(2) == 0 {
				desired.Memberships[o] = roles[r.IntN(4)]
			}
		}
		after := apply(current, Diff("sso", current, desired))
		for _, m := range after {
			orig := find(current, m.Org)
			if orig != nil && orig.Source != "sso" {
				if *orig != m {
					t.Fatalf("changed a membership it does not manage: %+v -> %+v", orig, m)
				}
				continue
			}
			if desired.Memberships[m.Org] != m.Role || m.Source != "sso" {
				t.Fatalf("case %d: %+v not desired %v", i, m, desired.Memberships)
			}
		}
		for o := range desired.Memberships {
			if find(after, o) == nil {
				t.Fatalf("case %d: desired %s missing", i, o)
			}
		}
		if again := Diff("sso", after, desired); len(again) != 0 {
			t.Fatalf("case %d: second diff %+v", i, again)
		}
	}
}

func find(ms []Membership, org string) *Membership {
	for i := range ms {
		if ms[i].Org == org {
			return &ms[i]
		}
	}
	return nil
}

func apply(current []Membership, changes []Change) []Membership {
	out := slices.Clone(current)
	for _, c := range changes {
		switch c.Kind {
		case ChangeAdd:
			out = append(out, Membership{Org: c.Org, Role: c.Role, Source: c.Source})
		case ChangeRole:
			find(out, c.Org).Role = c.Role
		case ChangeRemove:
			out = slices.DeleteFunc(out, func(m Membership) bool { return m.Org == c.Org })
		}
	}
	return out
}
