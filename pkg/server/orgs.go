package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/orgpolicy"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// Organizations: members with roles, npm scopes they own, a policy over their
// members' keys, an audit log and export. Roles:
//
//	owner    everything, incl. roles, policy, deleting the organization
//	admin    add/remove members (not owners), claim/release scopes, revoke members' keys
//	member   read the organization, publish into its scopes, manage own keys
//	auditor  read the organization, its members' keys metadata and events; changes nothing

// orgState is the server's organization bookkeeping: user names for the
// `owner` field, and whether any key carries a policy mark at all, so that
// rendering thousands of keys asks the database per key only when one might.
// The answer is kept for a second (another server process on the same
// database may mark keys) and dropped at once when this one changes marks.
type orgState struct {
	names    sync.Map // user id -> name
	mu       sync.Mutex
	marksAt  time.Time // when anyMarks was read; zero: unknown
	anyMarks bool
	members  sync.Map // user id -> *sync.Mutex: one key creation or rotation at a time
}

const marksFresh = time.Second

func (s *Server) orgRoutes() {
	s.handle("GET /v1/orgs", s.auth("orgs:read", s.listOrgs))
	s.handle("POST /v1/orgs", s.auth("orgs:write", s.createOrg))
	s.handle("GET /v1/orgs/{slug}", s.auth("orgs:read", s.getOrg))
	s.handle("DELETE /v1/orgs/{slug}", s.auth("orgs:write", s.deleteOrg))
	s.handle("GET /v1/orgs/{slug}/members", s.auth("orgs:read", s.listMembers))
	s.handle("POST /v1/orgs/{slug}/members", s.auth("orgs:write", s.addMember))
	s.handle("PATCH /v1/orgs/{slug}/members/{user}", s.auth("orgs:write", s.setRole))
	s.handle("DELETE /v1/orgs/{slug}/members/{user}", s.auth("orgs:write", s.removeMember))
	s.handle("POST /v1/orgs/{slug}/members/{user}/accept", s.auth("orgs:write", s.acceptInvitation))
	s.handle("POST /v1/orgs/{slug}/members/{user}/decline", s.auth("orgs:write", s.declineInvitation))
	s.handle("DELETE /v1/orgs/{slug}/members/{user}/keys/{id}", s.auth("orgs:write", s.revokeMemberKey))
	s.handle("GET /v1/orgs/{slug}/policy", s.auth("orgs:read", s.getPolicy))
	s.handle("PATCH /v1/orgs/{slug}/policy", s.auth("orgs:write", s.setPolicy))
	s.handle("GET /v1/orgs/{slug}/namespaces", s.auth("orgs:read", s.listNamespaces))
	s.handle("PUT /v1/orgs/{slug}/namespaces/{scope}", s.auth("orgs:write", s.claimNamespace))
	s.handle("DELETE /v1/orgs/{slug}/namespaces/{scope}", s.auth("orgs:write", s.releaseNamespace))
}

// ValidSlug: lower case letters, digits and '-', 1 to 64, starting with a
// letter or digit — what an npm scope may be, so @SLUG is a scope.
func ValidSlug(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validScope: @scope, the scope part of a namespace.
func validScope(s string) bool {
	ns, err := keyrules.CheckNamespaces([]string{s})
	return err == nil && len(ns) == 1 && !strings.Contains(s, "/")
}

func forbidden(format string, a ...any) *apiError {
	return errf(http.StatusForbidden, "forbidden", format, a...)
}

// orgFor loads the organization in the path and the caller's role in it. A
// non-member learns nothing: not_found, as for an organization that does not
// exist.
func (s *Server) orgFor(r *http.Request, c *Credential) (*store.Org, string, *apiError) {
	return s.orgRole(r, c, r.PathValue("slug"))
}

// orgRole loads the organization slug and the caller's role in it, for any
// act on it: a non-member gets not_found, and a credential whose namespaces
// do not cover the organization's scopes is refused (the ceiling's bound on
// organizations, policy.OrgAccess).
func (s *Server) orgRole(r *http.Request, c *Credential, slug string) (*store.Org, string, *apiError) {
	o, err := s.store.OrgBySlug(r.Context(), slug)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", notFound("organization")
	} else if err != nil {
		return nil, "", s.internal(err)
	}
	role, err := s.store.MemberRole(r.Context(), o.ID, c.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", notFound("organization")
	} else if err != nil {
		return nil, "", s.internal(err)
	}
	scopes, err := s.store.OrgScopes(r.Context(), o.ID)
	if err != nil {
		return nil, "", s.internal(err)
	}
	if e := s.orgAccess(r, c, append([]string{}, scopes...), "act on the organization "+o.Slug); e != nil {
		return nil, "", e
	}
	return o, role, nil
}

// needRole refuses unless role is one of allowed.
func needRole(o *store.Org, role, what string, allowed ...string) *apiError {
	if slices.Contains(allowed, role) {
		return nil
	}
	return forbidden("only %s of %s can %s (you are %s)", roleList(allowed), o.Slug, what, withArticle(role))
}

func roleList(roles []string) string {
	var pl []string
	for _, r := range roles {
		pl = append(pl, r+"s")
	}
	if len(pl) == 1 {
		return pl[0]
	}
	return strings.Join(pl[:len(pl)-1], ", ") + " and " + pl[len(pl)-1]
}

func withArticle(role string) string {
	if role == model.RoleOwner || role == model.RoleAdmin || role == model.RoleAuditor {
		return "an " + role
	}
	return "a " + role
}

func (s *Server) orgEvent(r *http.Request, c *Credential, typ, detail string) *store.Event {
	ip := remoteAddr(r).String()
	return &store.Event{Type: typ, Time: s.now(), Actor: c.User.Name, KeyID: c.keyID(), IP: &ip, Detail: detail}
}

// marksChanged forgets whether any key carries a policy mark.
func (s *Server) marksChanged() {
	s.orgs.mu.Lock()
	s.orgs.marksAt = time.Time{}
	s.orgs.mu.Unlock()
}

// anyMarks reports whether any key might carry a policy mark.
func (s *Server) anyMarks(ctx context.Context) bool {
	s.orgs.mu.Lock()
	defer s.orgs.mu.Unlock()
	if !s.orgs.marksAt.IsZero() && time.Since(s.orgs.marksAt) < marksFresh {
		return s.orgs.anyMarks
	}
	some, err := s.store.AnyViolations(ctx)
	if err != nil {
		return true // ask per key
	}
	s.orgs.marksAt, s.orgs.anyMarks = time.Now(), some
	return some
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	ms, err := s.store.OrgsOfUser(r.Context(), c.User.ID)
	if err != nil {
		return s.internal(err)
	}
	out := model.OrgList{Orgs: []model.Org{}}
	for _, m := range ms {
		out.Orgs = append(out.Orgs, model.Org{Slug: m.Org.Slug, Name: m.Org.Name, Role: m.Role})
	}
	invs, err := s.store.InvitationsOfUser(r.Context(), c.User.ID)
	if err != nil {
		return s.internal(err)
	}
	for _, in := range invs {
		// the name only: the organization shows nothing more until accepted
		out.Orgs = append(out.Orgs, model.Org{Slug: in.Slug, Name: in.Slug, Role: in.Role, Status: model.MemberInvited})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	var req model.CreateOrgRequest
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	if !ValidSlug(req.Slug) {
		return badRequest("invalid organization slug %q: 1 to 64 lower case letters, digits and -", req.Slug)
	}
	if req.Name == "" {
		req.Name = req.Slug
	}
	if !validName(req.Name) || utf8.RuneCountInString(req.Name) > 64 {
		return badRequest("name must be 1 to 64 printable characters")
	}
	if e := s.orgAccess(r, c, nil, "create an organization"); e != nil {
		return e
	}
	now := s.now().Truncate(time.Second)
	o, err := s.store.CreateOrg(r.Context(), req.Slug, req.Name, c.User.ID, now, s.orgEvent(r, c, model.EventOrgCreated, fmt.Sprintf("created %s (%q), owner %s", req.Slug, req.Name, c.User.Name)))
	if errors.Is(err, store.ErrExists) {
		return errf(http.StatusConflict, "conflict", "the organization %s exists already", req.Slug)
	} else if err != nil {
		return s.internal(err)
	}
	writeJSON(w, http.StatusCreated, orgDetail(o, model.RoleOwner, 1, []string{}))
	return nil
}

func policyJSON(o *store.Org) model.OrgPolicy {
	p := model.OrgPolicy{AllowedScopes: o.Policy.AllowedScopes, RequiredCIDRs: o.Policy.RequiredCIDRs, AuditTokenUsed: o.AuditTokenUsed}
	if o.Policy.MaxLifetime > 0 {
		v := int64(o.Policy.MaxLifetime / time.Second)
		p.MaxLifetimeSeconds = &v
	}
	if o.Policy.MaxKeys > 0 {
		v := o.Policy.MaxKeys
		p.MaxKeys = &v
	}
	return p
}

func orgDetail(o *store.Org, role string, members int, scopes []string) model.OrgDetail {
	return model.OrgDetail{Slug: o.Slug, Name: o.Name, Members: members, Namespaces: scopes, Policy: policyJSON(o), Role: role, CreatedAt: o.CreatedAt}
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, role, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	ms, err := s.store.Members(r.Context(), o.ID)
	if err != nil {
		return s.internal(err)
	}
	scopes, err := s.store.OrgScopes(r.Context(), o.ID)
	if err != nil {
		return s.internal(err)
	}
	writeJSON(w, http.StatusOK, orgDetail(o, role, len(ms), scopes))
	return nil
}

func (s *Server) deleteOrg(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, role, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	if e := needRole(o, role, "delete the organization", model.RoleOwner); e != nil {
		return e
	}
	if err := s.store.DeleteOrg(r.Context(), o.ID, s.orgEvent(r, c, model.EventOrgDeleted, "deleted "+o.Slug)); err != nil {
		return s.internal(err)
	}
	s.marksChanged()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func memberJSON(m store.MemberRecord) model.Member {
	return model.Member{User: m.Name, Role: m.Role, AddedAt: m.AddedAt}
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, _, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	ms, err := s.store.Members(r.Context(), o.ID)
	if err != nil {
		return s.internal(err)
	}
	out := model.MemberList{Members: []model.Member{}}
	for _, m := range ms {
		out.Members = append(out.Members, memberJSON(m))
	}
	invs, err := s.store.Invitations(r.Context(), o.ID)
	if err != nil {
		return s.internal(err)
	}
	for _, in := range invs {
		out.Members = append(out.Members, model.Member{User: in.Name, Role: in.Role, AddedAt: in.InvitedAt, Status: model.MemberInvited})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func badRole(role string) *apiError {
	return badRequest("invalid role %q: use %s", role, strings.Join(model.Roles, ", "))
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, role, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	var req model.AddMemberRequest
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	if req.Role == "" {
		req.Role = model.RoleMember
	}
	if !store.ValidRole(req.Role) {
		return badRole(req.Role)
	}
	if e := needRole(o, role, "add members", model.RoleOwner, model.RoleAdmin); e != nil {
		return e
	}
	if req.Role == model.RoleOwner {
		if e := needRole(o, role, "add owners", model.RoleOwner); e != nil {
			return e
		}
	}
	u, err := s.store.UserByName(r.Context(), req.User)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("user " + req.User)
	} else if err != nil {
		return s.internal(err)
	}
	// an invitation: nothing of the user's (keys, events, packages) is
	// reachable by the organization until they accept
	now := s.now().Truncate(time.Second)
	err = s.store.InviteMember(r.Context(), o.ID, u.ID, req.Role, c.User.Name, now, s.orgEvent(r, c, model.EventMemberInvited, fmt.Sprintf("%s invited as %s", u.Name, req.Role)))
	if errors.Is(err, store.ErrExists) {
		return errf(http.StatusConflict, "conflict", "%s is a member of %s or invited already: use 'org member set-role' to change a member's role", u.Name, o.Slug)
	} else if err != nil {
		return s.internal(err)
	}
	writeJSON(w, http.StatusCreated, model.Member{User: u.Name, Role: req.Role, AddedAt: now, Status: model.MemberInvited})
	return nil
}

// withdrawInvitation handles `org member remove` of a user who is invited,
// not a member: owners and admins withdraw the invitation. done is false
// when the user in the path has no invitation.
func (s *Server) withdrawInvitation(w http.ResponseWriter, r *http.Request, c *Credential, o *store.Org, role string) (*apiError, bool) {
	u, err := s.store.UserByName(r.Context(), r.PathValue("user"))
	if err != nil {
		return nil, false
	}
	if _, err := s.store.MemberRole(r.Context(), o.ID, u.ID); !errors.Is(err, store.ErrNotFound) {
		return nil, false
	}
	if e := needRole(o, role, "withdraw invitations", model.RoleOwner, model.RoleAdmin); e != nil {
		return e, true
	}
	err = s.store.DropInvitation(r.Context(), o.ID, u.ID, s.orgEvent(r, c, model.EventMemberRemoved, u.Name+": invitation withdrawn"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false
	} else if err != nil {
		return s.internal(err), true
	}
	writeJSON(w, http.StatusOK, model.RemoveMemberResult{User: u.Name, RevokedKeys: []string{}, DeletedJWTKeys: []string{}, HandedPackages: []string{}})
	return nil, true
}

// invitee loads the organization in the path for its invited user, who must
// be the caller: only the invited user accepts or declines. Anyone else, or
// no invitation, learns nothing (not_found).
func (s *Server) invitee(r *http.Request, c *Credential) (*store.Org, *apiError) {
	if r.PathValue("user") != c.User.Name {
		return nil, notFound("invitation")
	}
	o, err := s.store.OrgBySlug(r.Context(), r.PathValue("slug"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("invitation")
	} else if err != nil {
		return nil, s.internal(err)
	}
	return o, nil
}

// acceptInvitation: the invited user joins with the role they were invited
// with; from now on the organization reaches their keys and events.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, e := s.invitee(r, c)
	if e != nil {
		return e
	}
	// joining lets the organization reach every key of the account
	if e := s.orgAccess(r, c, nil, "join an organization"); e != nil {
		return e
	}
	now := s.now().Truncate(time.Second)
	role, err := s.store.AcceptInvitation(r.Context(), o.ID, c.User.ID, now, func(role, by string) *store.Event {
		return s.orgEvent(r, c, model.EventMemberAdded, fmt.Sprintf("%s added as %s (accepted the invitation of %s)", c.User.Name, role, by))
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound("invitation")
	} else if err != nil {
		return s.internal(err)
	}
	s.marksChanged()
	writeJSON(w, http.StatusOK, model.Member{User: c.User.Name, Role: role, AddedAt: now})
	return nil
}

// declineInvitation: the invited user turns the invitation down.
func (s *Server) declineInvitation(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, e := s.invitee(r, c)
	if e != nil {
		return e
	}
	if err := s.store.DropInvitation(r.Context(), o.ID, c.User.ID, s.orgEvent(r, c, model.EventMemberRemoved, c.User.Name+" declined the invitation")); errors.Is(err, store.ErrNotFound) {
		return notFound("invitation")
	} else if err != nil {
		return s.internal(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// memberFor loads the user named in the path, who must be a member.
func (s *Server) memberFor(r *http.Request, o *store.Org) (*store.User, string, *apiError) {
	name := r.PathValue("user")
	u, err := s.store.UserByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", notFound("member " + name + " of " + o.Slug)
	} else if err != nil {
		return nil, "", s.internal(err)
	}
	role, err := s.store.MemberRole(r.Context(), o.ID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", notFound("member " + name + " of " + o.Slug)
	} else if err != nil {
		return nil, "", s.internal(err)
	}
	return u, role, nil
}

func lastOwner(o *store.Org) *apiError {
	return errf(http.StatusConflict, "last_owner", "%s keeps at least one owner: make someone else an owner first", o.Slug)
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, role, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	var req model.SetRoleRequest
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	if !store.ValidRole(req.Role) {
		return badRole(req.Role)
	}
	if e := needRole(o, role, "change roles", model.RoleOwner); e != nil {
		return e
	}
	u, _, e := s.memberFor(r, o)
	if e != nil {
		return e
	}
	_, err := s.store.SetRole(r.Context(), o.ID, u.ID, req.Role, s.orgEvent(r, c, model.EventRoleChanged, fmt.Sprintf("%s: role set to %s", u.Name, req.Role)))
	switch {
	case errors.Is(err, store.ErrLastOwner):
		return lastOwner(o)
	case errors.Is(err, store.ErrNotFound):
		return notFound("member " + u.Name + " of " + o.Slug)
	case err != nil:
		return s.internal(err)
	}
	ms, err := s.store.Members(r.Context(), o.ID)
	if err != nil {
		return s.internal(err)
	}
	for _, m := range ms {
		if m.UserID == u.ID {
			writeJSON(w, http.StatusOK, memberJSON(m))
			return nil
		}
	}
	return notFound("member")
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, role, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	if e, done := s.withdrawInvitation(w, r, c, o, role); done {
		return e
	}
	u, urole, e := s.memberFor(r, o)
	if e != nil {
		return e
	}
	if u.ID != c.User.ID { // anyone may leave; removing others takes an owner or admin
		if e := needRole(o, role, "remove members", model.RoleOwner, model.RoleAdmin); e != nil {
			return e
		}
		if urole == model.RoleOwner {
			if e := needRole(o, role, "remove owners", model.RoleOwner); e != nil {
				return e
			}
		}
	}
	now := s.now().Truncate(time.Second)
	ip := remoteAddr(r).String()
	off, err := s.store.RemoveMember(r.Context(), o.ID, u.ID, now, func(typ string, keyID *string, detail string) *store.Event {
		uid := u.ID
		return &store.Event{UserID: &uid, Type: typ, Time: now, Actor: c.User.Name, KeyID: keyID, IP: &ip, Detail: u.Name + " from " + o.Slug + ": " + detail}
	})
	switch {
	case errors.Is(err, store.ErrLastOwner):
		return lastOwner(o)
	case errors.Is(err, store.ErrNotFound):
		return notFound("member " + u.Name + " of " + o.Slug)
	case err != nil:
		return s.internal(err)
	}
	for _, k := range off.RevokedKeys {
		s.creds.drop(k.TokenHash)
	}
	s.marksChanged()
	out := model.RemoveMemberResult{User: u.Name, RevokedKeys: []string{}, DeletedJWTKeys: off.DeletedJWTKeys, HandedPackages: off.HandedPackages}
	for _, k := range off.RevokedKeys {
		out.RevokedKeys = append(out.RevokedKeys, k.ID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeMemberKey lets owners and admins revoke a member's key that reaches
// the organization.
func (s *Server) revokeMemberKey(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, role, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	if e := needRole(o, role, "revoke members' keys", model.RoleOwner, model.RoleAdmin); e != nil {
		return e
	}
	u, urole, e := s.memberFor(r, o)
	if e != nil {
		return e
	}
	if urole == model.RoleOwner && u.ID != c.User.ID {
		if e := needRole(o, role, "revoke owners' keys", model.RoleOwner); e != nil {
			return e
		}
	}
	id := r.PathValue("id")
	k, err := s.store.KeyByID(r.Context(), u.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("key")
	} else if err != nil {
		return s.internal(err)
	}
	scopes, err := s.store.OrgScopes(r.Context(), o.ID)
	if err != nil {
		return s.internal(err)
	}
	if !orgpolicy.Reaches(k.Namespaces, scopes) {
		return forbidden("the key %s does not reach %s's scopes: only its owner can revoke it", id, o.Slug)
	}
	now := s.now()
	ip := remoteAddr(r).String()
	uid := u.ID
	ev := &store.Event{UserID: &uid, Type: model.EventTokenRevoked, Time: now, Actor: c.User.Name, KeyID: &id, IP: &ip,
		Detail: fmt.Sprintf("revoked by %s, %s of %s", c.User.Name, role, o.Slug)}
	k, pred, err := s.store.RevokeKey(r.Context(), u.ID, id, now, ev)
	switch {
	case errors.Is(err, store.ErrAlreadyRevoked):
		return errf(http.StatusConflict, "already_revoked", "the key %s is already revoked", id)
	case err != nil:
		return s.internal(err)
	}
	s.creds.drop(k.TokenHash)
	if pred != nil {
		s.creds.drop(pred.TokenHash)
	}
	writeJSON(w, http.StatusOK, s.keyJSON(k))
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, _, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, policyJSON(o))
	return nil
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, role, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	var req model.OrgPolicyUpdate
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	if e := needRole(o, role, "change the policy", model.RoleOwner); e != nil {
		return e
	}
	p, audit := o.Policy, o.AuditTokenUsed
	var changes []string
	set := map[string]bool{"max_lifetime": req.MaxLifetimeSeconds != nil, "allowed_scopes": req.AllowedScopes != nil,
		"required_cidrs": req.RequiredCIDRs != nil, "max_keys": req.MaxKeys != nil}
	for _, f := range req.Clear {
		if set[f] {
			return badRequest("%s is both set and cleared: do one", f)
		}
	}
	for _, f := range req.Clear {
		switch f {
		case "max_lifetime":
			p.MaxLifetime = 0
		case "allowed_scopes":
			p.AllowedScopes = nil
		case "required_cidrs":
			p.RequiredCIDRs = nil
		case "max_keys":
			p.MaxKeys = 0
		default:
			return badRequest("clear: unknown setting %q (max_lifetime, allowed_scopes, required_cidrs, max_keys)", f)
		}
		changes = append(changes, f+" cleared")
	}
	if req.MaxLifetimeSeconds != nil {
		d := time.Duration(*req.MaxLifetimeSeconds) * time.Second
		if err := keyrules.CheckExpiry(d); err != nil {
			return badRequest("max_lifetime_seconds: %s", err)
		}
		p.MaxLifetime = d
		changes = append(changes, "max_lifetime="+orgpolicy.FormatDuration(d))
	}
	if req.AllowedScopes != nil {
		sc, err := keyrules.CheckScopes(req.AllowedScopes)
		if err != nil {
			return badRequest("allowed_scopes: %s", err)
		}
		p.AllowedScopes = sc
		changes = append(changes, "allowed_scopes="+strings.Join(sc, ","))
	}
	if req.RequiredCIDRs != nil {
		cidrs, err := keyrules.CheckCIDRs(req.RequiredCIDRs)
		if err != nil || len(cidrs) == 0 {
			if err == nil {
				err = errors.New("at least one network")
			}
			return badRequest("required_cidrs: %s", err)
		}
		p.RequiredCIDRs = cidrs
		changes = append(changes, "required_cidrs="+strings.Join(cidrs, ","))
	}
	if req.MaxKeys != nil {
		if *req.MaxKeys < 1 || *req.MaxKeys > orgpolicy.MaxKeysCeiling {
			return badRequest("max_keys must be from 1 to %d", orgpolicy.MaxKeysCeiling)
		}
		p.MaxKeys = *req.MaxKeys
		changes = append(changes, fmt.Sprintf("max_keys=%d", p.MaxKeys))
	}
	if req.AuditTokenUsed != nil {
		audit = *req.AuditTokenUsed
		changes = append(changes, fmt.Sprintf("audit_token_used=%t", audit))
	}
	if len(changes) == 0 {
		return badRequest("nothing to change: name at least one setting")
	}
	now := s.now().Truncate(time.Second)
	n, err := s.store.SetPolicy(r.Context(), o.ID, p, audit, now, s.orgEvent(r, c, model.EventPolicyChanged, strings.Join(changes, " ")))
	if err != nil {
		return s.internal(err)
	}
	s.marksChanged()
	o.Policy, o.AuditTokenUsed = p, audit
	writeJSON(w, http.StatusOK, model.OrgPolicyResult{Policy: policyJSON(o), KeysViolating: n})
	return nil
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, _, e := s.orgFor(r, c)
	if e != nil {
		return e
	}
	scopes, err := s.store.OrgScopes(r.Context(), o.ID)
	if err != nil {
		return s.internal(err)
	}
	writeJSON(w, http.StatusOK, scopes)
	return nil
}

func (s *Server) namespaceChange(r *http.Request, c *Credential, what string) (*store.Org, string, *apiError) {
	o, role, e := s.orgFor(r, c)
	if e != nil {
		return nil, "", e
	}
	scope := r.PathValue("scope")
	if !validScope(scope) {
		return nil, "", badRequest("invalid scope %q: use @scope (lower case)", scope)
	}
	if !c.HasScope("npm:scope:write") {
		return nil, "", insufficientScope("npm:scope:write")
	}
	if e := needRole(o, role, what+" scopes", model.RoleOwner, model.RoleAdmin); e != nil {
		return nil, "", e
	}
	if e := s.orgAccess(r, c, []string{scope}, what+" "+scope); e != nil {
		return nil, "", e
	}
	return o, scope, nil
}

func (s *Server) claimNamespace(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, scope, e := s.namespaceChange(r, c, "claim")
	if e != nil {
		return e
	}
	now := s.now().Truncate(time.Second)
	err := s.store.ClaimScope(r.Context(), o.ID, c.User.ID, scope, now, s.orgEvent(r, c, model.EventNamespaceClaimed, scope+" claimed for "+o.Slug))
	if errors.Is(err, store.ErrExists) {
		return errf(http.StatusConflict, "conflict", "the scope %s has an owner already (an organization or another user): a scope has one owner", scope)
	} else if err != nil {
		return s.internal(err)
	}
	s.marksChanged()
	writeJSON(w, http.StatusCreated, model.Namespace{Scope: scope, Org: o.Slug, ClaimedAt: now})
	return nil
}

func (s *Server) releaseNamespace(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, scope, e := s.namespaceChange(r, c, "release")
	if e != nil {
		return e
	}
	err := s.store.ReleaseScope(r.Context(), o.ID, scope, s.now(), s.orgEvent(r, c, model.EventNamespaceReleased, scope+" released by "+o.Slug))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("scope " + scope + " of " + o.Slug)
	} else if err != nil {
		return s.internal(err)
	}
	s.marksChanged()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// orgSlug names organization id (0: none).
func (s *Server) orgSlug(ctx context.Context, id int64) string {
	if id == 0 {
		return ""
	}
	o, err := s.store.OrgByID(ctx, id)
	if err != nil {
		return ""
	}
	return o.Slug
}

// ownerName is the `owner` of a key: its user's name (cached; names do not
// change).
func (s *Server) ownerName(userID int64) string {
	if v, ok := s.orgs.names.Load(userID); ok {
		return v.(string)
	}
	u, err := s.store.UserByID(context.Background(), userID)
	if err != nil {
		return ""
	}
	s.orgs.names.Store(userID, u.Name)
	return u.Name
}

// policyMarks lists a usable key's policy marks ("acme-corp:max-lifetime"),
// [] when none. Revoked and expired keys carry none: the marks are about keys
// that still work.
func (s *Server) policyMarks(k *store.KeyRecord) []string {
	if !k.Usable(s.now()) {
		return []string{}
	}
	ctx := context.Background()
	if !s.anyMarks(ctx) {
		return []string{}
	}
	v, err := s.store.KeyViolations(ctx, k.ID)
	if err != nil {
		s.cfg.Logger.Warn("reading policy marks failed", "error", err)
		return []string{}
	}
	return v
}

// checkOrgPublish: publishing into a scope an organization owns takes a
// member who may write (not an auditor); it returns the organization's id
// (0 for a scope no organization owns).
func (s *Server) checkOrgPublish(r *http.Request, c *Credential, pkg string) (int64, *apiError) {
	scope, _, _ := strings.Cut(pkg, "/")
	orgID, _, err := s.store.ScopeOwner(r.Context(), scope)
	if errors.Is(err, store.ErrNotFound) || err == nil && orgID == 0 {
		return 0, nil
	} else if err != nil {
		return 0, s.internal(err)
	}
	role, err := s.store.MemberRole(r.Context(), orgID, c.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		e := insufficientScope("registry:publish")
		e.desc = fmt.Sprintf("the scope %s belongs to an organization you are not a member of: publishing across organizations is refused", scope)
		return 0, e
	} else if err != nil {
		return 0, s.internal(err)
	}
	if role == model.RoleAuditor {
		e := insufficientScope("registry:publish")
		e.desc = fmt.Sprintf("auditors read; they do not publish into %s", scope)
		return 0, e
	}
	return orgID, nil
}
