package auth

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/codesync/codesync-cli/pkg/api"
)

// RefreshExpiry asks the server's introspection endpoint (RFC 7662) when the
// session's refresh token expires, which is when the session ends unless it
// is refreshed before. Zero time: the server did not say.
func RefreshExpiry(ctx context.Context, c *api.Client, s *Session) (time.Time, error) {
	m, err := Discover(ctx, c)
	if err != nil {
		return time.Time{}, err
	}
	if m.IntrospectionEndpoint == "" || s.RefreshToken == "" {
		return time.Time{}, errors.New("no introspection endpoint or no refresh token")
	}
	var out struct {
		Active bool  `json:"active"`
		Exp    int64 `json:"exp"`
	}
	form := url.Values{"token": {s.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {ClientID}}
	if err := c.PostForm(ctx, m.IntrospectionEndpoint, form, &out); err != nil {
		return time.Time{}, err
	}
	if !out.Active || out.Exp == 0 {
		return time.Time{}, nil
	}
	return time.Unix(out.Exp, 0).UTC(), nil
}
