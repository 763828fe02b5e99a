package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// DevUser is the user `server --dev` creates.
const DevUser = "dev"

// DevScopes are the first key's scopes (SPEC §4).
var DevScopes = []string{"keys:read", "keys:write", "audit:read", "registry:read", "registry:publish"}

const devKeyName = "dev-bootstrap"

// BootstrapDev gives the dev user a new random password and a fresh csy_dev_
// key, revoking the key an earlier start made (so restarts on the same --db
// never pile up keys). It returns the password and the token.
func (s *Server) BootstrapDev(ctx context.Context) (password, tok string, err error) {
	now := s.now().Truncate(time.Second)
	password = token.RandomString(24)
	u, err := s.store.UserByName(ctx, DevUser)
	switch {
	case errors.Is(err, store.ErrNotFound):
		u, err = s.store.CreateUser(ctx, DevUser, HashPassword(password), now)
	case err == nil:
		err = s.store.SetPassword(ctx, DevUser, HashPassword(password))
	}
	if err != nil {
		return "", "", fmt.Errorf("creating the dev user: %w", err)
	}
	old, err := s.store.ListKeys(ctx, u.ID, false, 0, 1000, now)
	if err != nil {
		return "", "", err
	}
	for _, k := range old {
		if k.Name == devKeyName {
			ev := &store.Event{UserID: &u.ID, Type: model.EventTokenRevoked, Time: now, Actor: "server", KeyID: &k.ID, Detail: "replaced by a new dev start"}
			if _, _, err := s.store.RevokeKey(ctx, u.ID, k.ID, now, ev); err != nil {
				return "", "", err
			}
		}
	}
	tok = token.New("dev")
	k := &store.KeyRecord{ID: newKeyID(), UserID: u.ID, Name: devKeyName, Prefix: token.Prefix(tok), TokenHash: token.Hash(tok),
		Environment: model.EnvSandbox, Scopes: DevScopes, CIDRs: []string{}, Namespaces: []string{},
		CreatedAt: now, ExpiresAt: now.Add(keyrules.DefExpiry)}
	ev := &store.Event{UserID: &u.ID, Type: model.EventTokenCreated, Time: now, Actor: "server", KeyID: &k.ID, Detail: "dev bootstrap key"}
	if err := s.store.CreateKey(ctx, k, keyrules.MaxActive, ev); err != nil {
		return "", "", fmt.Errorf("creating the dev key: %w", err)
	}
	return password, tok, nil
}
