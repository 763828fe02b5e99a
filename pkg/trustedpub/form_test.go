package trustedpub_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"github.com/codesync/codesync-cli/internal/fakeidp"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

func TestExchangeForm(t *testing.T) {
	h := newHarness(t, nil)
	form := func(kv ...string) url.Values {
		f := url.Values{"grant_type": {trustedpub.GrantTypeTokenExchange}, "subject_token_type": {trustedpub.TokenTypeIDToken},
			"subject_token": {h.mint(github(fakeidp.GitHubJob{}))}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Add(kv[i], kv[i+1])
			}
		}
		return f
	}
	bad := map[string]url.Values{
		"wrong grant":          form("grant_type", ""),
		"access token subject": func() url.Values { f := form(); f.Set("subject_token_type", trustedpub.TokenTypeAccessToken); return f }(),
		"no subject":           form("subject_token", ""),
		"two subjects":         form("subject_token", "x"),
		"actor token":          form("actor_token", "x", "actor_token_type", trustedpub.TokenTypeIDToken),
		"refresh requested":    form("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
	}
	for name, f := range bad {
		_, err := h.v.ExchangeForm(context.Background(), f, h.lookup)
		var r *trustedpub.Refusal
		if !errors.As(err, &r) || r.OAuthError() != "invalid_request" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !trustedpub.IsTokenExchange(form()) || trustedpub.IsTokenExchange(url.Values{"grant_type": {"refresh_token"}}) {
		t.Error("IsTokenExchange")
	}
	g, err := h.v.ExchangeForm(context.Background(), form("requested_token_type", trustedpub.TokenTypeAccessToken, "client_id", "codesync-cli"), h.lookup)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(g.TokenResponse("csy_x"))
	if string(b) != `{"access_token":"csy_x","expires_in":900,"issued_token_type":"urn:ietf:params:oauth:token-type:access_token","scope":"registry:publish registry:read","token_type":"Bearer"}` {
		t.Errorf("token response %s", b)
	}
}
