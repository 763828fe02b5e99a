package server_test

import (
	"context"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// mint gives user (created if need be) a key made directly in the store: the
// fixture of a credential no API call may hand out (a production key or
// npm:scope:write on a server whose dev key has neither).
func (e *env) mint(user, environment string, scopes ...string) string {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.st.UserByName(ctx, user)
	if err != nil {
		if u, err = e.st.CreateUser(ctx, user, server.HashPassword("password1"), e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	kind := "prod"
	if environment == model.EnvSandbox {
		kind = "dev"
	}
	tok := token.New(kind)
	now := e.clock.Now().Truncate(time.Second)
	k := &store.KeyRecord{ID: "key_" + token.RandomString(16), UserID: u.ID, Name: "fixture", Prefix: token.Prefix(tok), TokenHash: token.Hash(tok),
		Environment: environment, Scopes: scopes, CIDRs: []string{}, Namespaces: []string{}, CreatedAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour)}
	if err := e.st.CreateKey(ctx, k, 100, &store.Event{UserID: &u.ID, Type: model.EventTokenCreated, Time: now, Actor: user, Detail: "fixture"}); err != nil {
		e.t.Fatal(err)
	}
	return tok
}
