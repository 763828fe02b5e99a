package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// Package is a registry package's latest metadata.
type Package struct {
	Name      string
	UserID    int64
	Metadata  []byte
	UpdatedAt time.Time
}

// Errors of publishing into an npm scope.
var (
	ErrScopeOwned     = errors.New("the npm scope belongs to another user")
	ErrScopeUnclaimed = errors.New("the npm scope is not claimed yet")
)

// PutPackage stores metadata for name. An npm scope (@acme-corp) belongs to
// the user who claimed it: publishing into another user's scope is
// ErrScopeOwned; publishing into an unclaimed scope claims it when canClaim
// (npm:scope:write), else ErrScopeUnclaimed. A package belongs to the user who
// first published it; another user gets ErrExists.
func (s *Store) PutPackage(ctx context.Context, p *Package, canClaim bool) error {
	scope, _, _ := strings.Cut(p.Name, "/")
	return s.write(ctx, func(tx *sql.Tx) error {
		var scopeOwner int64
		err := tx.QueryRow(`SELECT user_id FROM npm_scopes WHERE scope = ?`, scope).Scan(&scopeOwner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if !canClaim {
				return ErrScopeUnclaimed
			}
			if _, err := tx.Exec(`INSERT INTO npm_scopes (scope, user_id, created_at) VALUES (?,?,?)`, scope, p.UserID, unix(p.UpdatedAt)); err != nil {
				return err
			}
		case err != nil:
			return err
		case scopeOwner != p.UserID:
			return ErrScopeOwned
		}
		var owner int64
		err = tx.QueryRow(`SELECT user_id FROM packages WHERE name = ?`, p.Name).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.Exec(`INSERT INTO packages (name, user_id, metadata, updated_at) VALUES (?,?,?,?)`, p.Name, p.UserID, p.Metadata, unix(p.UpdatedAt))
			return err
		case err != nil:
			return err
		case owner != p.UserID:
			return ErrExists
		}
		_, err = tx.Exec(`UPDATE packages SET metadata = ?, updated_at = ? WHERE name = ?`, p.Metadata, unix(p.UpdatedAt), p.Name)
		return err
	})
}

// GetPackage reads a package.
func (s *Store) GetPackage(ctx context.Context, name string) (*Package, error) {
	p := Package{Name: name}
	var t int64
	err := s.db.QueryRowContext(ctx, `SELECT user_id, metadata, updated_at FROM packages WHERE name = ?`, name).Scan(&p.UserID, &p.Metadata, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	p.UpdatedAt = fromUnix(t)
	return &p, err
}
