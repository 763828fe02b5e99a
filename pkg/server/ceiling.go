package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/codesync/codesync-cli/pkg/model"
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

// bound applies the ceiling rule (and the organization rules of the server's
// configuration) to what c asks for. A refusal is 403 with the rule's code
// and a message naming the limit, recorded as scope:escalated.
func (s *Server) bound(r *http.Request, c *Credential, req policy.Request, what string) (policy.Grant, *apiError) {
	g, refusal, e := s.checkCeiling(c, req)
	if refusal != nil {
		s.recordRefusal(r, c, what, refusal)
	}
	return g, e
}

// checkCeiling is bound without the audit event, for use inside a store
// transaction (which must not wait for another write); the caller records
// the refusal with recordRefusal once the transaction is over.
func (s *Server) checkCeiling(c *Credential, req policy.Request) (policy.Grant, *policy.Error, *apiError) {
	req.Now = s.now()
	g, err := policy.Apply(c.Ceiling(), req, s.cfg.Rules...)
	if err == nil {
		return g, nil, nil
	}
	var pe *policy.Error
	if !errors.As(err, &pe) {
		return policy.Grant{}, nil, s.internal(err)
	}
	return policy.Grant{}, pe, &apiError{status: http.StatusForbidden, code: pe.Code, desc: pe.Msg, scope: strings.Join(pe.Missing, " ")}
}

func (s *Server) recordRefusal(r *http.Request, c *Credential, what string, pe *policy.Error) {
	ip := remoteAddr(r).String()
	_ = s.store.AddEvent(r.Context(), &store.Event{UserID: &c.User.ID, Type: model.EventScopeEscalated, Time: s.now(), Actor: c.User.Name,
		KeyID: c.keyID(), IP: &ip, Detail: fmt.Sprintf("refused: %s beyond the caller's %s: %s", what, pe.Limit, pe.Msg)})
}
