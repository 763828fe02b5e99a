package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/codesync/codesync-cli/pkg/model"
)

func orgPath(slug string, rest ...string) string {
	p := "/v1/orgs/" + url.PathEscape(slug)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Orgs lists the caller's organizations with the caller's role.
func (c *Client) Orgs(ctx context.Context) ([]model.Org, error) {
	var out model.OrgList
	if err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/v1/orgs"}, &out); err != nil {
		return nil, err
	}
	if out.Orgs == nil {
		out.Orgs = []model.Org{}
	}
	return out.Orgs, nil
}

// CreateOrg creates an organization; the caller is its first owner.
func (c *Client) CreateOrg(ctx context.Context, req model.CreateOrgRequest) (*model.OrgDetail, error) {
	var out model.OrgDetail
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: "/v1/orgs", Body: req}, &out)
}

// GetOrg returns an organization the caller belongs to.
func (c *Client) GetOrg(ctx context.Context, slug string) (*model.OrgDetail, error) {
	var out model.OrgDetail
	return &out, c.Do(ctx, Request{Method: http.MethodGet, Path: orgPath(slug)}, &out)
}

// DeleteOrg deletes an organization (owners only).
func (c *Client) DeleteOrg(ctx context.Context, slug string) error {
	return c.Do(ctx, Request{Method: http.MethodDelete, Path: orgPath(slug)}, nil)
}

// Members lists an organization's members.
func (c *Client) Members(ctx context.Context, slug string) ([]model.Member, error) {
	var out model.MemberList
	if err := c.Do(ctx, Request{Method: http.MethodGet, Path: orgPath(slug, "members")}, &out); err != nil {
		return nil, err
	}
	if out.Members == nil {
		out.Members = []model.Member{}
	}
	return out.Members, nil
}

// AddMember adds a user with a role.
func (c *Client) AddMember(ctx context.Context, slug string, req model.AddMemberRequest) (*model.Member, error) {
	var out model.Member
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: orgPath(slug, "members"), Body: req}, &out)
}

// AcceptInvitation joins slug as user (the caller), with the role invited.
func (c *Client) AcceptInvitation(ctx context.Context, slug, user string) (*model.Member, error) {
	var out model.Member
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: orgPath(slug, "members", user, "accept")}, &out)
}

// DeclineInvitation turns down user's (the caller's) invitation to slug.
func (c *Client) DeclineInvitation(ctx context.Context, slug, user string) error {
	return c.Do(ctx, Request{Method: http.MethodPost, Path: orgPath(slug, "members", user, "decline")}, nil)
}

// SetRole changes a member's role (owners only).
func (c *Client) SetRole(ctx context.Context, slug, user, role string) (*model.Member, error) {
	var out model.Member
	return &out, c.Do(ctx, Request{Method: http.MethodPatch, Path: orgPath(slug, "members", user), Body: model.SetRoleRequest{Role: role}}, &out)
}

// RemoveMember offboards a member: their keys reaching the organization are
// revoked, their JWT keys deleted, their packages handed over.
func (c *Client) RemoveMember(ctx context.Context, slug, user string) (*model.RemoveMemberResult, error) {
	var out model.RemoveMemberResult
	return &out, c.Do(ctx, Request{Method: http.MethodDelete, Path: orgPath(slug, "members", user)}, &out)
}

// RevokeMemberKey revokes a member's key that reaches the organization
// (owners and admins).
func (c *Client) RevokeMemberKey(ctx context.Context, slug, user, keyID string) (*model.Key, error) {
	var out model.Key
	return &out, c.Do(ctx, Request{Method: http.MethodDelete, Path: orgPath(slug, "members", user, "keys", keyID)}, &out)
}

// OrgPolicy reads an organization's policy.
func (c *Client) OrgPolicy(ctx context.Context, slug string) (*model.OrgPolicy, error) {
	var out model.OrgPolicy
	return &out, c.Do(ctx, Request{Method: http.MethodGet, Path: orgPath(slug, "policy")}, &out)
}

// SetOrgPolicy changes an organization's policy (owners only).
func (c *Client) SetOrgPolicy(ctx context.Context, slug string, req model.OrgPolicyUpdate) (*model.OrgPolicyResult, error) {
	var out model.OrgPolicyResult
	return &out, c.Do(ctx, Request{Method: http.MethodPatch, Path: orgPath(slug, "policy"), Body: req}, &out)
}

// ClaimNamespace gives an npm scope (@scope) to the organization.
func (c *Client) ClaimNamespace(ctx context.Context, slug, scope string) (*model.Namespace, error) {
	var out model.Namespace
	return &out, c.Do(ctx, Request{Method: http.MethodPut, Path: orgPath(slug, "namespaces", scope)}, &out)
}

// ReleaseNamespace gives up the organization's npm scope.
func (c *Client) ReleaseNamespace(ctx context.Context, slug, scope string) error {
	return c.Do(ctx, Request{Method: http.MethodDelete, Path: orgPath(slug, "namespaces", scope)}, nil)
}
