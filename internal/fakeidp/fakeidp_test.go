package fakeidp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/codesync/codesync-cli/internal/fakeidp"
)

// TestDiscoveryAndJWKS: a real OIDC client (go-oidc) discovers the stand-in
// and verifies its tokens; rotation publishes the new key next to the old.
func TestDiscoveryAndJWKS(t *testing.T) {
	idp := fakeidp.New(t)
	if !strings.HasPrefix(idp.Issuer(), "http://127.0.0.1:") {
		t.Fatalf("issuer %s is not on 127.0.0.1", idp.Issuer())
	}
	ctx := oidc.ClientContext(context.Background(), idp.Client())
	p, err := oidc.NewProvider(ctx, idp.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	v := p.Verifier(&oidc.Config{ClientID: fakeidp.DefaultAudience})
	tok, err := idp.Mint(fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml", Environment: "release"}))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c["repository"] != "acme/widgets" || c["job_workflow_ref"] != "acme/widgets/.github/workflows/release.yml@refs/heads/main" ||
		c["sub"] != "repo:acme/widgets:environment:release" || c["jti"] == "" || c["repository_owner"] != "acme" {
		t.Errorf("claims %v", c)
	}

	old := idp.KeyIDs()
	if err := idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	if k := idp.KeyIDs(); len(k) != 2 || k[0] != old[0] {
		t.Fatalf("after rotation %v", k)
	}
	tok2, _ := idp.Mint(fakeidp.GitLabClaims(fakeidp.GitLabJob{ProjectPath: "group/project"}))
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("old key during rotation: %v", err)
	}
	idp.Retire()
	if k := idp.KeyIDs(); len(k) != 1 || slices.Contains(k, old[0]) {
		t.Fatalf("after retiring %v", k)
	}
	forged, _ := idp.MintForeign(fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "a/b", Workflow: "x.yml"}))
	if _, err := v.Verify(ctx, forged); err == nil {
		t.Fatal("a token of a foreign key verified")
	}
}

// TestActionsEndpoint behaves like GitHub's: bearer request token,
// ?audience=, {"value": jwt}.
func TestActionsEndpoint(t *testing.T) {
	idp := fakeidp.New(t)
	reqURL, reqTok := idp.ActionsEnv(fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml"}))
	get := func(bearer, audience string) (int, string) {
		u, _ := url.Parse(reqURL)
		q := u.Query()
		if audience != "" {
			q.Set("audience", audience)
		}
		u.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := idp.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Value string `json:"value"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v.Value
	}
	if code, _ := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("no bearer: %d", code)
	}
	if code, _ := get("nope", ""); code != http.StatusUnauthorized {
		t.Errorf("wrong bearer: %d", code)
	}
	ctx := oidc.ClientContext(context.Background(), idp.Client())
	p, err := oidc.NewProvider(ctx, idp.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	for aud, want := range map[string]string{"codesync": "codesync", "": "https://github.com/acme"} {
		code, tok := get(reqTok, aud)
		if code != http.StatusOK {
			t.Fatalf("audience %q: HTTP %d", aud, code)
		}
		if _, err := p.Verifier(&oidc.Config{ClientID: want}).Verify(ctx, tok); err != nil {
			t.Errorf("audience %q: %v", aud, err)
		}
	}
	if idp.ActionsCalls() != 2 {
		t.Errorf("calls %d", idp.ActionsCalls())
	}
}
