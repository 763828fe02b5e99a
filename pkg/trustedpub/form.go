package trustedpub

import (
	"context"
	"net/url"
	"strings"
)

// ReasonInvalidRequest: the token exchange request itself is wrong.
const ReasonInvalidRequest Reason = "invalid_request"

// IsTokenExchange reports whether a token endpoint form asks for this grant,
// so the server's token endpoint can hand it to ExchangeForm.
func IsTokenExchange(form url.Values) bool {
	return form.Get("grant_type") == GrantTypeTokenExchange
}

// ExchangeForm checks an RFC 8693 request of the token endpoint and runs
// Exchange on its subject_token: subject_token_type must be the ID token
// type, requested_token_type (optional) the access token type, and no
// actor_token (delegation is not supported). Other parameters (client_id,
// scope, audience, resource) are ignored: the publisher decides the scope.
// The error is always a *Refusal; OAuthError() gives the RFC 6749 code.
func (v *Verifier) ExchangeForm(ctx context.Context, form url.Values, lookup PublisherLookup) (*Grant, error) {
	bad := func(d string) error { return &Refusal{Reason: ReasonInvalidRequest, Detail: d} }
	switch {
	case !IsTokenExchange(form):
		return nil, bad("grant_type is not " + GrantTypeTokenExchange)
	case form.Get("subject_token_type") != TokenTypeIDToken:
		return nil, bad("subject_token_type must be " + TokenTypeIDToken)
	case form.Get("subject_token") == "":
		return nil, bad("subject_token is missing")
	case len(form["subject_token"]) > 1:
		return nil, bad("subject_token is repeated")
	case form.Get("actor_token") != "" || form.Get("actor_token_type") != "":
		return nil, bad("actor_token is not supported")
	case form.Get("requested_token_type") != "" && form.Get("requested_token_type") != TokenTypeAccessToken:
		return nil, bad("requested_token_type must be " + TokenTypeAccessToken)
	}
	return v.Exchange(ctx, form.Get("subject_token"), lookup)
}

// TokenResponse is the body of the token endpoint's answer for a grant and
// the access token the server minted for it (RFC 8693 §2.2.1). The server
// adds Cache-Control: no-store.
func (g *Grant) TokenResponse(accessToken string) map[string]any {
	return map[string]any{
		"access_token":      accessToken,
		"issued_token_type": TokenTypeAccessToken,
		"token_type":        "Bearer",
		"expires_in":        int64(g.Lifetime.Seconds()),
		"scope":             strings.Join(g.Scopes, " "),
	}
}
