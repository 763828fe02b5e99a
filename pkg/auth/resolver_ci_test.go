package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/codesync/codesync-cli/pkg/credstore"
)

// In a CI job without CODESYNC_AUTH_TOKEN the resolver exchanges the CI
// identity once per invocation and never opens the credential store.
func TestResolverExchangesTheCIIdentity(t *testing.T) {
	ci := DetectCI(func(k string) string {
		if k == EnvCIIDToken {
			return "header.payload.sig"
		}
		return ""
	})
	calls := 0
	r := &Resolver{Store: func() (credstore.Store, error) { t.Fatal("the store was opened"); return nil, nil }}
	r.UseCI(ci, func(ctx context.Context, got *CIIdentity) (*ExchangedToken, error) {
		calls++
		return &ExchangedToken{AccessToken: "cso_x", Provider: got.Provider, Claims: map[string]string{"repository": "acme/widgets"}}, nil
	})
	if src, err := r.Source(); err != nil || src != TypeOIDC {
		t.Fatalf("source %q %v", src, err)
	}
	cp := *r // login copies the resolver: the copy shares the exchanged token
	for _, res := range []*Resolver{r, &cp} {
		if tok, err := res.Token(context.Background()); err != nil || tok != "cso_x" {
			t.Fatalf("token %q %v", tok, err)
		}
	}
	if calls != 1 {
		t.Fatalf("%d exchanges, want 1", calls)
	}
	if tok, err := r.Reauth(context.Background(), "cso_x"); tok != "" || err != nil {
		t.Fatalf("reauth of an exchanged token: %q %v", tok, err)
	}

	// an explicit token wins and nothing is exchanged
	r.EnvToken = "csy_prod_x"
	if src, _ := r.Source(); src != "env" {
		t.Fatalf("source with CODESYNC_AUTH_TOKEN: %s", src)
	}

	// a failed exchange is the command's error, not cached
	r = &Resolver{}
	boom := errors.New("refused")
	r.UseCI(ci, func(context.Context, *CIIdentity) (*ExchangedToken, error) { return nil, boom })
	if _, err := r.Token(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("failed exchange: %v", err)
	}
}
