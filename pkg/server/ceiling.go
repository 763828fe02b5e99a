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

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/orgpolicy"
	"github.com/codesync/codesync-cli/pkg/policy"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// Ceiling is everything that limits the credential (pkg/policy). A person's
// OAuth session sets no expiry bound of its own: its 2-hour access token is
// not the person's limit.
func (c *Credential) Ceiling() policy.Ceiling {
	pc := policy.Ceiling{Owner: c.User.ID, Scopes: c.Scopes, Namespaces: c.Namespaces, CIDRs: c.CIDRs, Environment: c.Environment}
	if c.Type != model.CredentialOAuth {
		pc.ExpiresAt = c.ExpiresAt
	}
	// a session from a federated sign-in reaches no scope beyond what the
	// mapping rules let that person grant (max_scopes), now: a re-check
	// that narrowed them binds its unexpired access tokens too
	pc.Scopes = c.limit.narrow(pc.Scopes)
	return pc
}

// binding names the credential for stored answers: stable across an OAuth
// session's refreshes and across the JWTs one key signs.
func (c *Credential) binding() string {
	switch c.Type {
	case model.CredentialOAuth:
		return "oauth:" + c.Family
	case model.CredentialJWT:
		return "jwt:" + c.ID
	}
	return "key:" + c.ID
}

// orgLimits is the organizations' part of a request's ceiling: the policies
// of the organizations of the user a credential acts for, read before any
// store transaction so that the rule itself (orgpolicy.Rule) reads nothing.
type orgLimits struct {
	orgs []orgpolicy.Org
	keys bool // the grant is a new API key: max-lifetime and max-keys apply
}

// orgLimitsFor reads the policies of userID's organizations. For a new API
// key (keys), it also counts the member's active keys reaching each, except
// excludeKeyID (a rotation's old key, which the new one replaces); and the
// member's key creations and rotations are serialised from here until ctx
// (the request's) ends, so concurrent requests cannot pass max-keys together.
func (s *Server) orgLimitsFor(ctx context.Context, userID int64, keys bool, excludeKeyID string) (orgLimits, error) {
	ol := orgLimits{keys: keys}
	if !keys {
		ms, err := s.store.OrgsOfUser(ctx, userID)
		if err != nil {
			return ol, err
		}
		for _, m := range ms {
			scopes, err := s.store.OrgScopes(ctx, m.Org.ID)
			if err != nil {
				return ol, err
			}
			if len(scopes) > 0 { // an organization without scopes is reached by no key
				ol.orgs = append(ol.orgs, orgpolicy.Org{Slug: m.Org.Slug, Policy: m.Org.Policy, Scopes: scopes})
			}
		}
		return ol, nil
	}
	v, _ := s.orgs.members.LoadOrStore(userID, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	if ctx.Done() == nil { // a context that never ends: hold the lock for the read only
		defer mu.Unlock()
	} else {
		context.AfterFunc(ctx, mu.Unlock)
	}
	// no namespaces given: every organization with a scope; the rule picks
	// those the grant reaches
	ps, err := s.store.PoliciesFor(ctx, userID, nil, excludeKeyID, s.now())
	if err != nil {
		return ol, err
	}
	for _, p := range ps {
		ol.orgs = append(ol.orgs, orgpolicy.Org{Slug: p.Org.Slug, Policy: p.Org.Policy, Scopes: p.Scopes, ActiveKeys: p.ActiveKeys})
	}
	return ol, nil
}

// bound applies the ceiling rule (with the policies of the caller's
// organizations and the rules of the server's configuration) to what c asks
// for. A refusal is 403 with the rule's code and a message naming the limit;
// one beyond the caller is recorded as scope:escalated.
func (s *Server) bound(r *http.Request, c *Credential, req policy.Request, what string) (policy.Grant, *apiError) {
	return s.boundOrg(r, c, req, what, false)
}

// boundKey is bound for a new API key: max-lifetime and max-keys of the
// organizations apply too, and the caller's key creations wait for each other
// until the request ends.
func (s *Server) boundKey(r *http.Request, c *Credential, req policy.Request, what string) (policy.Grant, *apiError) {
	return s.boundOrg(r, c, req, what, true)
}

func (s *Server) boundOrg(r *http.Request, c *Credential, req policy.Request, what string, keys bool) (policy.Grant, *apiError) {
	org, err := s.orgLimitsFor(r.Context(), c.User.ID, keys, "")
	if err != nil {
		return policy.Grant{}, s.internal(err)
	}
	g, refusal, e := s.checkCeiling(c.Ceiling(), req, org)
	if refusal != nil {
		s.recordRefusal(r, c, what, refusal)
	}
	return g, e
}

// checkCeiling is the one ceiling rule: policy.Apply of the ceiling pc, the
// server's configured rules and the organizations' policies (org, read
// beforehand with orgLimitsFor) to req. It reads nothing and records nothing,
// so it runs inside a store transaction (which must not wait for another
// write); the caller records a refusal with recordRefusal once the
// transaction is over.
func (s *Server) checkCeiling(pc policy.Ceiling, req policy.Request, org orgLimits) (policy.Grant, *policy.Error, *apiError) {
	req.Now = s.now().Truncate(time.Second) // as keys are stored: a lifetime asked is the lifetime checked
	rules := append(slices.Clip(s.cfg.Rules), orgpolicy.Rule(org.orgs, req.Now, org.keys))
	g, err := policy.Apply(pc, req, rules...)
	if err == nil {
		return g, nil, nil
	}
	var pe *policy.Error
	if !errors.As(err, &pe) {
		return policy.Grant{}, nil, s.internal(err)
	}
	return policy.Grant{}, pe, &apiError{status: http.StatusForbidden, code: pe.Code, desc: pe.Msg, scope: strings.Join(pe.Missing, " ")}
}

// recordRefusal records a refusal beyond the caller's ceiling as
// scope:escalated (a policy violation is not an escalation: its answer names
// the rule, and nothing is recorded).
func (s *Server) recordRefusal(r *http.Request, c *Credential, what string, pe *policy.Error) {
	if pe.Code != policy.CodeInsufficientScope {
		return
	}
	ip := remoteAddr(r).String()
	_ = s.store.AddEvent(r.Context(), &store.Event{UserID: &c.User.ID, Type: model.EventScopeEscalated, Time: s.now(), Actor: c.User.Name,
		KeyID: c.keyID(), IP: &ip, Detail: fmt.Sprintf("refused: %s beyond the caller's %s: %s", what, pe.Limit, pe.Msg)})
}

// orgAccess applies policy.OrgAccess, the ceiling's bound on acts on
// organizations, to c: scopes nil for an act on the whole account (creating
// an organization, accepting an invitation), else the npm scopes the act
// reaches (the organization's, or the one claimed). A refusal is 403
// insufficient_scope naming the namespaces, recorded as scope:escalated.
func (s *Server) orgAccess(r *http.Request, c *Credential, scopes []string, what string) *apiError {
	err := policy.OrgAccess(c.Ceiling(), scopes, what)
	if err == nil {
		return nil
	}
	var pe *policy.Error
	if !errors.As(err, &pe) {
		return s.internal(err)
	}
	s.recordRefusal(r, c, what, pe)
	return &apiError{status: http.StatusForbidden, code: pe.Code, desc: pe.Msg}
}
