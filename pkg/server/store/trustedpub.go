package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// trustedPubMigrations: trusted publishing (CI identities exchanged for
// short-lived tokens). They run after leastPrivMigrations, in order.
var trustedPubMigrations = []string{
	// trusted publishers: spec is the publisher as JSON (pkg/trustedpub);
	// scope is the npm scope of its namespace (who may manage it);
	// created_by is the user the exchanged tokens act for.
	// used ID tokens (issuer, jti) until they expire: the replay guard.
	// exchanged tokens (hashed), with their ceiling.
	`CREATE TABLE trusted_publishers (
		id TEXT PRIMARY KEY,
		issuer TEXT NOT NULL,
		scope TEXT NOT NULL,
		spec TEXT NOT NULL,
		created_by INTEGER NOT NULL REFERENCES users(id),
		created_at INTEGER NOT NULL
	);
	CREATE INDEX trusted_publishers_issuer ON trusted_publishers(issuer);
	CREATE INDEX trusted_publishers_scope ON trusted_publishers(scope);
	CREATE TABLE oidc_jtis (
		issuer TEXT NOT NULL,
		jti TEXT NOT NULL,
		expires_at INTEGER NOT NULL,
		PRIMARY KEY (issuer, jti)
	);
	CREATE INDEX oidc_jtis_expires ON oidc_jtis(expires_at);
	CREATE TABLE oidc_tokens (
		id TEXT PRIMARY KEY,
		token_hash BLOB NOT NULL UNIQUE,
		user_id INTEGER NOT NULL REFERENCES users(id),
		publisher_id TEXT NOT NULL,
		scopes TEXT NOT NULL,
		namespaces TEXT NOT NULL,
		claims TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX oidc_tokens_expires ON oidc_tokens(expires_at);`,
}

// TrustedPublisher is a stored publisher; Spec is its JSON.
type TrustedPublisher struct {
	ID        string
	Issuer    string
	Scope     string
	Spec      []byte
	CreatedBy int64
	CreatedAt time.Time
}

const tpCols = `tp.id, tp.issuer, tp.scope, tp.spec, tp.created_by, tp.created_at`

func scanTPs(rows *sql.Rows, err error) ([]TrustedPublisher, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []TrustedPublisher{}
	for rows.Next() {
		var p TrustedPublisher
		var spec string
		var at int64
		if err := rows.Scan(&p.ID, &p.Issuer, &p.Scope, &spec, &p.CreatedBy, &at); err != nil {
			return nil, err
		}
		p.Spec, p.CreatedAt = []byte(spec), fromUnix(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// AddTrustedPublisher stores p with its audit event.
func (s *Store) AddTrustedPublisher(ctx context.Context, p *TrustedPublisher, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO trusted_publishers (id, issuer, scope, spec, created_by, created_at) VALUES (?,?,?,?,?,?)`,
			p.ID, p.Issuer, p.Scope, string(p.Spec), p.CreatedBy, unix(p.CreatedAt)); err != nil {
			return err
		}
		return insertEvent(tx, ev)
	})
}

// TrustedPublisherByID returns one publisher.
func (s *Store) TrustedPublisherByID(ctx context.Context, id string) (*TrustedPublisher, error) {
	l, err := scanTPs(s.db.QueryContext(ctx, `SELECT `+tpCols+` FROM trusted_publishers tp WHERE tp.id = ?`, id))
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, ErrNotFound
	}
	return &l[0], nil
}

// TrustedPublishersVisible lists the publishers of the scopes userID owns
// and of the scopes of the organizations userID is a member of.
func (s *Store) TrustedPublishersVisible(ctx context.Context, userID int64) ([]TrustedPublisher, error) {
	return scanTPs(s.db.QueryContext(ctx, `SELECT `+tpCols+` FROM trusted_publishers tp JOIN scope_owners so ON so.scope = tp.scope
		WHERE so.user_id = ? OR so.org_id IN (SELECT org_id FROM org_members WHERE user_id = ?) ORDER BY tp.created_at, tp.id`, userID, userID))
}

// TrustedPublishersOfIssuer lists the usable publishers of an issuer: those
// whose registrant may still manage them (owns the scope, or is an owner or
// admin of the organization that owns it).
func (s *Store) TrustedPublishersOfIssuer(ctx context.Context, issuer string) ([]TrustedPublisher, error) {
	return scanTPs(s.db.QueryContext(ctx, `SELECT `+tpCols+` FROM trusted_publishers tp JOIN scope_owners so ON so.scope = tp.scope
		JOIN users u ON u.id = tp.created_by
		WHERE tp.issuer = ? AND u.suspended = 0 AND (so.user_id = tp.created_by OR EXISTS (
			SELECT 1 FROM org_members m WHERE m.org_id = so.org_id AND m.user_id = tp.created_by AND m.role IN ('owner', 'admin')))
		ORDER BY tp.id`, issuer))
}

// RemoveTrustedPublisher deletes publisher id with its audit event.
func (s *Store) RemoveTrustedPublisher(ctx context.Context, id string, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM trusted_publishers WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return insertEvent(tx, ev)
	})
}

// ErrReplayed: the (issuer, jti) pair was used before and has not expired.
var ErrReplayed = errors.New("replayed")

// UseJTI records an ID token's (issuer, jti) until expiry; ErrReplayed
// when it is recorded and not expired at now.
func (s *Store) UseJTI(ctx context.Context, issuer, jti string, expiry, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var exp int64
		err := tx.QueryRow(`SELECT expires_at FROM oidc_jtis WHERE issuer = ? AND jti = ?`, issuer, jti).Scan(&exp)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case exp >= unix(now):
			return ErrReplayed
		}
		_, err = tx.Exec(`INSERT INTO oidc_jtis (issuer, jti, expires_at) VALUES (?,?,?)
			ON CONFLICT (issuer, jti) DO UPDATE SET expires_at = excluded.expires_at`, issuer, jti, unix(expiry))
		return err
	})
}

// OIDCToken is an exchanged token (trusted publishing).
type OIDCToken struct {
	ID          string
	Hash        []byte
	UserID      int64
	PublisherID string
	Scopes      []string
	Namespaces  []string
	Claims      string // JSON of the matched claims
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// SaveOIDCToken stores an exchanged token with its audit event.
func (s *Store) SaveOIDCToken(ctx context.Context, t *OIDCToken, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO oidc_tokens (id, token_hash, user_id, publisher_id, scopes, namespaces, claims, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)`,
			t.ID, t.Hash, t.UserID, t.PublisherID, joinList(t.Scopes), joinList(t.Namespaces), t.Claims, unix(t.CreatedAt), unix(t.ExpiresAt)); err != nil {
			return err
		}
		return insertEvent(tx, ev)
	})
}

// OIDCTokenByHash finds an exchanged token.
func (s *Store) OIDCTokenByHash(ctx context.Context, h []byte) (*OIDCToken, error) {
	var t OIDCToken
	var scopes, ns string
	var at, exp int64
	err := s.db.QueryRowContext(ctx, `SELECT id, token_hash, user_id, publisher_id, scopes, namespaces, claims, created_at, expires_at FROM oidc_tokens WHERE token_hash = ?`, h).
		Scan(&t.ID, &t.Hash, &t.UserID, &t.PublisherID, &scopes, &ns, &t.Claims, &at, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	t.Scopes, t.Namespaces, t.CreatedAt, t.ExpiresAt = splitList(scopes), splitList(ns), fromUnix(at), fromUnix(exp)
	return &t, nil
}

// purgeTrustedPub deletes used jtis and exchanged tokens past their expiry
// (a jti past its ID token's expiry cannot be replayed: the token is refused
// as expired).
func purgeTrustedPub(tx *sql.Tx, now time.Time) (int64, error) {
	var n int64
	for _, q := range []string{`DELETE FROM oidc_jtis WHERE expires_at < ?`, `DELETE FROM oidc_tokens WHERE expires_at < ?`} {
		res, err := tx.Exec(q, unix(now))
		if err != nil {
			return n, err
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}
