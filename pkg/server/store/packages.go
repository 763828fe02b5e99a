package store

import (
	"context"
	"database/sql"
	"errors"
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

// PutPackage stores metadata for name. A package belongs to the user who
// first published it; another user gets ErrExists.
func (s *Store) PutPackage(ctx context.Context, p *Package) error {
	return s.write(ctx, func(tx *sql.Tx) error {
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
