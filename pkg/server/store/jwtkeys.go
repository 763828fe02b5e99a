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
	// the ceiling of the credential that registered the key: every JWT it
	// signs is cut down to it
	Scopes      []string
	Namespaces  []string
	CIDRs       []string
	Environment string
	ExpiresAt   *time.Time // nil: no bound of its own (registered from an OAuth session)
	// RegisteredBy names the credential that registered it: "key:ID" (an
	// API key), "jwt:ID" (another JWT key) or "oauth:FAMILY" (a session).
	RegisteredBy string
}

const jwtCols = `id, user_id, name, public_pem, fingerprint, bits, created_at, scopes, namespaces, cidrs, environment, expires_at, registered_by`

func scanJWTKey(row interface{ Scan(...any) error }) (*JWTKey, error) {
	var k JWTKey
	var created, expires int64
	var scopes, ns, cidrs string
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.PublicPEM, &k.Fingerprint, &k.Bits, &created, &scopes, &ns, &cidrs, &k.Environment, &expires, &k.RegisteredBy); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	k.CreatedAt = fromUnix(created)
	k.Scopes, k.Namespaces, k.CIDRs = splitList(scopes), splitList(ns), splitList(cidrs)
	switch expires {
	case -1: // no bound of its own
	case 0: // registered before ceilings were recorded: nothing left to grant
		t := fromUnix(0)
		k.ExpiresAt = &t
	default:
		t := fromUnix(expires)
		k.ExpiresAt = &t
	}
	return &k, nil
}

// AddJWTKey registers a public key with its ceiling, refusing with
// ErrKeyLimit when the user already has max keys.
func (s *Store) AddJWTKey(ctx context.Context, k *JWTKey, max int, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM jwt_keys WHERE user_id = ?`, k.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return ErrKeyLimit
		}
		expires := int64(-1)
		if k.ExpiresAt != nil {
			expires = unix(*k.ExpiresAt)
		}
		if _, err := tx.Exec(`INSERT INTO jwt_keys (`+jwtCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`, k.ID, k.UserID, k.Name, k.PublicPEM, k.Fingerprint, k.Bits, unix(k.CreatedAt),
			joinList(k.Scopes), joinList(k.Namespaces), joinList(k.CIDRs), k.Environment, expires, k.RegisteredBy); err != nil {
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
