package model

import "time"

// Organization roles, from most to least powerful.
const (
	RoleOwner   = "owner"
	RoleAdmin   = "admin"
	RoleMember  = "member"
	RoleAuditor = "auditor"
)

// Roles lists every role.
var Roles = []string{RoleOwner, RoleAdmin, RoleMember, RoleAuditor}

// Org is an organization as `org list` shows it: Role is the caller's.
type Org struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Status is "invited" for an invitation the caller has not accepted
	// (org member accept SLUG); absent for a membership.
	Status string `json:"status,omitempty"`
}

// MemberInvited is the Status of a pending invitation.
const MemberInvited = "invited"

// OrgDetail is GET /v1/orgs/{slug} (`org show`).
type OrgDetail struct {
	Slug       string    `json:"slug"`
	Name       string    `json:"name"`
	Members    int       `json:"members"`
	Namespaces []string  `json:"namespaces"`
	Policy     OrgPolicy `json:"policy"`
	Role       string    `json:"role"`
	CreatedAt  time.Time `json:"created_at"`
}

// OrgPolicy is an organization's policy; null fields are unset.
type OrgPolicy struct {
	MaxLifetimeSeconds *int64   `json:"max_lifetime_seconds"`
	AllowedScopes      []string `json:"allowed_scopes"`
	RequiredCIDRs      []string `json:"required_cidrs"`
	MaxKeys            *int     `json:"max_keys"`
	AuditTokenUsed     bool     `json:"audit_token_used"`
}

// OrgPolicyUpdate is PATCH /v1/orgs/{slug}/policy: an absent field is kept,
// Clear names fields to unset ("max_lifetime", "allowed_scopes",
// "required_cidrs", "max_keys").
type OrgPolicyUpdate struct {
	MaxLifetimeSeconds *int64   `json:"max_lifetime_seconds,omitempty"`
	AllowedScopes      []string `json:"allowed_scopes,omitempty"`
	RequiredCIDRs      []string `json:"required_cidrs,omitempty"`
	MaxKeys            *int     `json:"max_keys,omitempty"`
	AuditTokenUsed     *bool    `json:"audit_token_used,omitempty"`
	Clear              []string `json:"clear,omitempty"`
}

// OrgPolicyResult answers a policy change: the policy and the keys it marked.
type OrgPolicyResult struct {
	Policy        OrgPolicy `json:"policy"`
	KeysViolating int       `json:"keys_violating"`
}

// CreateOrgRequest is POST /v1/orgs.
type CreateOrgRequest struct {
	Slug string `json:"slug"`
	Name string `json:"name,omitempty"`
}

// OrgList is GET /v1/orgs.
type OrgList struct {
	Orgs []Org `json:"orgs"`
}

// Member is one member of an organization (`org member list`).
type Member struct {
	User    string    `json:"user"`
	Role    string    `json:"role"`
	AddedAt time.Time `json:"added_at"` // for an invitation: when invited
	// Status is "invited" for a pending invitation (the user has not
	// accepted yet: nothing of theirs is reachable by the organization);
	// absent for a member.
	Status string `json:"status,omitempty"`
}

// MemberList is GET /v1/orgs/{slug}/members.
type MemberList struct {
	Members []Member `json:"members"`
}

// AddMemberRequest is POST /v1/orgs/{slug}/members.
type AddMemberRequest struct {
	User string `json:"user"`
	Role string `json:"role,omitempty"`
}

// SetRoleRequest is PATCH /v1/orgs/{slug}/members/{user}.
type SetRoleRequest struct {
	Role string `json:"role"`
}

// RemoveMemberResult answers DELETE /v1/orgs/{slug}/members/{user}: what
// offboarding did.
type RemoveMemberResult struct {
	User           string   `json:"user"`
	RevokedKeys    []string `json:"revoked_keys"`
	DeletedJWTKeys []string `json:"deleted_jwt_keys"`
	HandedPackages []string `json:"handed_packages"`
}

// Namespace is an npm scope an organization owns.
type Namespace struct {
	Scope     string    `json:"scope"`
	Org       string    `json:"org"`
	ClaimedAt time.Time `json:"claimed_at"`
}
