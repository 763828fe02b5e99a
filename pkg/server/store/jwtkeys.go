package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// JWTKey is a registered RSA public key.
type JWTKey struct {
	ID          string
	UserID      int64
	Name        string
	PublicPEM   string
	Fingerprint string
	Bits        int
	CreatedAt   time.Time
}

const jwtCols = `id, user_id, name, public_pem, fingerprint, bits, created_at`

func scanJWTKey(row interface{ Scan(...any) error }) (*JWTKey, error) {
	var k JWTKey
	var created int64
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.PublicPEM, &k.Fingerprint, &k.Bits, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	k.CreatedAt = fromUnix(created)
	return &k, nil
}

// AddJWTKey registers a public key.
func (s *Store) AddJWTKey(ctx context.Context, k *JWTKey, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO jwt_keys (`+jwtCols+`) VALUES (?,?,?,?,?,?,?)`, k.ID, k.UserID, k.Name, k.PublicPEM, k.Fingerprint, k.Bits, unix(k.CreatedAt)); err != nil {
			return err
		}
		return insertEvent(tx, ev)
	})
}

// JWTKeyByID finds a key by id (any user: the JWT says whose).
func (s *Store) JWTKeyByID(ctx context.Context, id string) (*JWTKey, error) {
	return scanJWTKey(s.db.QueryRowContext(ctx, `SELECT `+jwtCols+` FROM jwt_keys WHERE id = ?`, id))
}

// ListJWTKeys lists a user's keys.
func (s *Store) ListJWTKeys(ctx context.Context, userID int64) ([]*JWTKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+jwtCols+` FROM jwt_keys WHERE user_id = ? ORDER BY seq`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*JWTKey
	for rows.Next() {
		k, err := scanJWTKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteJWTKey removes the user's key id.
func (s *Store) DeleteJWTKey(ctx context.Context, userID int64, id string, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM jwt_keys WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return insertEvent(tx, ev)
	})
}
