package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// The ceilings a creator key may have, and what requests may ask for.
var (
	propNamespaces = []string{"@a", "@a/*", "@a/x", "@a/y", "@b", "@b/x"}
	propCeilCIDRs  = []string{"127.0.0.0/8", "127.0.0.1/32", "10.0.0.0/8", "::1/128"}
	propAskCIDRs   = []string{"127.0.0.0/8", "127.0.0.1/32", "127.0.0.0/24", "10.1.0.0/16", "0.0.0.0/0", "::/0", "::1/128"}
	propPackages   = []string{"@a/x", "@a/y", "@a/z", "@b/x", "@b/y", "@c/x"}
	propAddrs      = []string{"127.0.0.1", "127.0.0.2", "127.1.0.1", "10.1.2.3", "10.2.0.1", "192.0.2.1", "::1", "2001:db8::1"}
)

type creator struct {
	scopes, namespaces, cidrs []string
	env                       string
	expires                   time.Time
}

func drawSubset(t *rapid.T, label string, from []string) []string {
	return rapid.SliceOfDistinct(rapid.SampledFrom(from), rapid.ID[string]).Draw(t, label)
}

// drawList: nil (not sent, inherit), empty (sent empty) or a subset.
func drawList(t *rapid.T, label string, from []string) []string {
	switch rapid.IntRange(0, 2).Draw(t, label+"_kind") {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	return drawSubset(t, label, from)
}

// withinCreator checks, apart from the server's own logic, that a key or
// credential has no right its creator lacks.
func withinCreator(t *rapid.T, what string, c creator, scopes, namespaces, cidrs []string, env string, expires time.Time) {
	for _, s := range scopes {
		if !slices.Contains(c.scopes, s) {
			t.Fatalf("%s has scope %s, its creator only %v", what, s, c.scopes)
		}
	}
	for _, p := range propPackages {
		if keyrules.NamespaceAllows(namespaces, p) && !keyrules.NamespaceAllows(c.namespaces, p) {
			t.Fatalf("%s may publish %s (namespaces %v), its creator not (%v)", what, p, namespaces, c.namespaces)
		}
	}
	for _, a := range propAddrs {
		addr := netip.MustParseAddr(a)
		if keyrules.AllowedFrom(cidrs, addr) && !keyrules.AllowedFrom(c.cidrs, addr) {
			t.Fatalf("%s usable from %s (CIDRs %v), its creator not (%v)", what, a, cidrs, c.cidrs)
		}
	}
	if c.env == model.EnvSandbox && env != model.EnvSandbox {
		t.Fatalf("%s is %s, its creator sandbox", what, env)
	}
	if expires.After(c.expires) {
		t.Fatalf("%s expires %s, after its creator (%s)", what, expires, c.expires)
	}
}

// TestPropertyNothingExceedsItsCreator: for random creator ceilings and random
// create, rotate, register-JWT-key and sign requests against the real server,
// the effective rights of whatever results are never more than the creator's.
func TestPropertyNothingExceedsItsCreator(t *testing.T) {
	e := start(t, server.Config{DevRate: 100000, ProdRate: 100000, AnonRate: 100000})
	priv, pub := rsaKey(t, 2048)
	ctx := context.Background()
	n := 0
	granted := map[string]int{} // results that were granted and checked
	rapid.Check(t, func(rt *rapid.T) {
		n++
		now := e.clock.Now().Truncate(time.Second)
		u, err := e.st.CreateUser(ctx, fmt.Sprintf("prop%d", n), "x", now)
		if err != nil {
			rt.Fatal(err)
		}
		c := creator{
			scopes:     append(drawSubset(rt, "scopes", keyrules.Scopes), "keys:write"),
			namespaces: drawSubset(rt, "namespaces", propNamespaces),
			cidrs:      drawSubset(rt, "cidrs", propCeilCIDRs),
			env:        rapid.SampledFrom([]string{model.EnvProduction, model.EnvSandbox}).Draw(rt, "env"),
			expires:    now.Add(time.Duration(rapid.Int64Range(2, 400*24).Draw(rt, "hours")) * time.Hour),
		}
		c.scopes, _ = keyrules.CheckScopes(c.scopes)
		mint := func(scopes, namespaces, cidrs []string, env string, expires time.Time) (string, string) {
			kind := "prod"
			if env == model.EnvSandbox {
				kind = "dev"
			}
			tok := token.New(kind)
			k := &store.KeyRecord{ID: "key_" + token.RandomString(16), UserID: u.ID, Name: "p", Prefix: token.Prefix(tok), TokenHash: token.Hash(tok),
				Environment: env, Scopes: scopes, CIDRs: cidrs, Namespaces: namespaces, CreatedAt: now, ExpiresAt: expires}
			if err := e.st.CreateKey(ctx, k, 100, &store.Event{UserID: &u.ID, Type: model.EventTokenCreated, Time: now, Actor: u.Name}); err != nil {
				rt.Fatal(err)
			}
			return tok, k.ID
		}
		creatorTok, _ := mint(c.scopes, c.namespaces, c.cidrs, c.env, c.expires)

		drawCreate := func(label string) model.CreateKeyRequest {
			// half the time within the creator's scopes, so that grants happen
			scopeFrom := keyrules.Scopes
			if rapid.Bool().Draw(rt, label+"_modest") {
				scopeFrom = c.scopes
			}
			req := model.CreateKeyRequest{Name: "child", Scopes: drawSubset(rt, label+"_scopes", scopeFrom),
				Namespaces: drawList(rt, label+"_ns", propNamespaces), CIDRs: drawList(rt, label+"_cidrs", propAskCIDRs),
				Environment: rapid.SampledFrom([]string{"", model.EnvProduction, model.EnvSandbox}).Draw(rt, label+"_env")}
			if len(req.Scopes) == 0 {
				req.Scopes = []string{"keys:read"}
			}
			if rapid.Bool().Draw(rt, label+"_has_expiry") {
				req.ExpiresIn = rapid.Int64Range(3600, 365*24*3600).Draw(rt, label+"_expires_in")
			}
			return req
		}
		checkCreated := func(what string, r resp) {
			if r.status != 201 {
				return
			}
			var k model.KeyWithToken
			if err := json.Unmarshal(r.body, &k); err != nil {
				rt.Fatal(err)
			}
			withinCreator(rt, what, c, k.Scopes, k.Namespaces, k.CIDRs, k.Environment, k.ExpiresAt)
			granted[what]++
		}

		// each round: a create, a rotation, a JWT key registration and a JWT
		checkCreated("a created key", e.do("POST", "/v1/keys", creatorTok, drawCreate("create")))
		{
			// any key of the user, rotated by the creator
			target := drawCreate("target")
			tenv := target.Environment
			if tenv == "" {
				tenv = model.EnvProduction
			}
			ns, cidrs := target.Namespaces, target.CIDRs
			if ns == nil || rapid.Bool().Draw(rt, "target_creator_ns") {
				ns = c.namespaces
			}
			if cidrs == nil || rapid.Bool().Draw(rt, "target_creator_cidrs") {
				cidrs = c.cidrs
			}
			if rapid.Bool().Draw(rt, "target_creator_env") {
				tenv = c.env
			}
			_, id := mint(target.Scopes, ns, cidrs, tenv, now.Add(400*24*time.Hour))
			body := map[string]any{}
			if rapid.Bool().Draw(rt, "rotate_has_expiry") {
				body["expires_in"] = rapid.Int64Range(3600, 365*24*3600).Draw(rt, "rotate_expires_in")
			}
			r := e.do("POST", "/v1/keys/"+id+"/rotate", creatorTok, body)
			if r.status == 200 {
				var rot model.RotateKeyResponse
				if err := json.Unmarshal(r.body, &rot); err != nil {
					rt.Fatal(err)
				}
				k := rot.New
				withinCreator(rt, "a rotated key", c, k.Scopes, k.Namespaces, k.CIDRs, k.Environment, k.ExpiresAt)
				granted["a rotated key"]++
			}
		}
		{
			r := e.do("POST", "/v1/jwt/keys", creatorTok, model.RegisterJWTKeyRequest{Name: "svc", PublicKey: pub})
			if r.status != 201 {
				return
			}
			var jk model.JWTKey
			_ = json.Unmarshal(r.body, &jk)
			claimed := drawSubset(rt, "claimed", keyrules.Scopes)
			if len(claimed) == 0 {
				claimed = []string{"keys:read"}
			}
			ttl := time.Duration(rapid.Int64Range(15, 24*60).Draw(rt, "ttl_minutes")) * time.Minute
			jwtTok := sign(t, priv, jk.ID, u.Name, e.ts.URL, now, now.Add(ttl), joinScopes(claimed))
			r = e.do("GET", "/v1/auth/whoami", jwtTok, nil)
			if r.status == 200 {
				var who model.WhoAmI
				_ = json.Unmarshal(r.body, &who)
				var exp time.Time
				if who.Credential.ExpiresAt != nil {
					exp = *who.Credential.ExpiresAt
				}
				// whoami shows no namespaces or CIDRs: the key the JWT creates below does
				withinCreator(rt, "a JWT", c, who.Credential.Scopes, c.namespaces, c.cidrs, who.Credential.Environment, exp)
				granted["a JWT"]++
			}
			// and what the JWT creates in turn
			checkCreated("a key created by a JWT", e.do("POST", "/v1/keys", jwtTok, drawCreate("jwt_create")))
		}
	})
	// the property must not hold only because everything was refused
	t.Logf("granted and checked: %v", granted)
	for _, what := range []string{"a created key", "a rotated key", "a JWT"} {
		if granted[what] == 0 {
			t.Errorf("no %s was ever granted: the property was not exercised", what)
		}
	}
}

func joinScopes(l []string) string {
	out := ""
	for i, s := range l {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}
