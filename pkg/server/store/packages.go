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
	// OrgID: the organization the package was handed to (0: none). On a
	// write, the organization whose member publishes: a handed-over package
	// takes updates from that organization's members.
	OrgID int64
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
		if err := claimOrCheckScope(tx, scope, p, canClaim); err != nil {
			return err
		}
		var owner int64
		var org sql.NullInt64
		err := tx.QueryRow(`SELECT user_id, org_id FROM packages WHERE name = ?`, p.Name).Scan(&owner, &org)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.Exec(`INSERT INTO packages (name, user_id, metadata, updated_at) VALUES (?,?,?,?)`, p.Name, p.UserID, p.Metadata, unix(p.UpdatedAt))
			return err
		case err != nil:
			return err
		case org.Valid && org.Int64 != p.OrgID, !org.Valid && owner != p.UserID:
			return ErrExists
		}
		_, err = tx.Exec(`UPDATE packages SET metadata = ?, updated_at = ? WHERE name = ?`, p.Metadata, unix(p.UpdatedAt), p.Name)
		return err
	})
}

// claimOrCheckScope: an npm scope has one owner, an organization or a user.
// An organization's scope takes its members' packages (the caller checked
// the membership and set p.OrgID); a user's only that user's; an unclaimed
// one is claimed for the publisher when canClaim (npm:scope:write).
func claimOrCheckScope(tx *sql.Tx, scope string, p *Package, canClaim bool) error {
	var orgOwner, userOwner sql.NullInt64
	err := tx.QueryRow(`SELECT org_id, user_id FROM scope_owners WHERE scope = ?`, scope).Scan(&orgOwner, &userOwner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if !canClaim {
			return ErrScopeUnclaimed
		}
		_, err = tx.Exec(`INSERT INTO scope_owners (scope, user_id, claimed_at) VALUES (?,?,?)`, scope, p.UserID, unix(p.UpdatedAt))
		return err
	case err != nil:
		return err
	case orgOwner.Valid && orgOwner.Int64 != p.OrgID, !orgOwner.Valid && userOwner.Int64 != p.UserID:
		return ErrScopeOwned
	}
	return nil
}

// GetPackage reads a package.
func (s *Store) GetPackage(ctx context.Context, name string) (*Package, error) {
	p := Package{Name: name}
	var t int64
	var org sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT user_id, metadata, updated_at, org_id FROM packages WHERE name = ?`, name).Scan(&p.UserID, &p.Metadata, &t, &org)
	p.OrgID = org.Int64
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	p.UpdatedAt = fromUnix(t)
	return &p, err
}
