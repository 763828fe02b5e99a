package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/federation"
)

// federationMigrations store federated sign-in (issue 18). They run after
// trustedPubMigrations, in order.
var federationMigrations = []string{
	`CREATE TABLE identities (
		provider TEXT NOT NULL,
		subject TEXT NOT NULL,
		user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		refresh_sealed TEXT NOT NULL DEFAULT '', -- AES-GCM, key from the server secret (federation.TokenSealer)
		max_scopes TEXT,                         -- space-separated; NULL: no ceiling from the mapping
		checked_at INTEGER NOT NULL,             -- last sign-in or re-check upstream
		linked_at INTEGER NOT NULL,
		PRIMARY KEY (provider, subject)
	);
	CREATE UNIQUE INDEX identities_user ON identities(user_id, provider);
	-- a sign-in between /auth/start and /auth/callback (single use)
	CREATE TABLE federation_pending (
		state TEXT PRIMARY KEY,
		provider TEXT NOT NULL,
		nonce TEXT NOT NULL,
		verifier TEXT NOT NULL,
		return_path TEXT NOT NULL,
		binding_hash TEXT NOT NULL,
		expires_at INTEGER NOT NULL
	);
	-- browser sessions of the sign-in pages after a federated sign-in
	CREATE TABLE web_sessions (
		token_hash BLOB PRIMARY KEY,
		user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		provider TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	-- which provider an OAuth session (family) or a pending approval
	-- ('device:USERCODE') came from; none for local sign-ins
	CREATE TABLE session_providers (
		ref TEXT PRIMARY KEY,
		provider TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	-- '' for a membership added by hand, else the provider whose mapping made it
	ALTER TABLE org_members ADD COLUMN source TEXT NOT NULL DEFAULT '';`,
}

// Identity is an upstream identity linked to a user.
type Identity struct {
	Provider      string
	Subject       string
	UserID        int64
	RefreshSealed string
	ScopesLimited bool
	MaxScopes     []string
	CheckedAt     time.Time
	LinkedAt      time.Time
}

const identCols = `provider, subject, user_id, refresh_sealed, max_scopes, checked_at, linked_at`

func scanIdentity(row interface{ Scan(...any) error }) (*Identity, error) {
	var id Identity
	var maxScopes sql.NullString
	var checked, linked int64
	if err := row.Scan(&id.Provider, &id.Subject, &id.UserID, &id.RefreshSealed, &maxScopes, &checked, &linked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	id.ScopesLimited = maxScopes.Valid
	if maxScopes.Valid {
		id.MaxScopes = splitList(maxScopes.String)
	}
	id.CheckedAt, id.LinkedAt = fromUnix(checked), fromUnix(linked)
	return &id, nil
}

func maxScopesValue(limited bool, scopes []string) any {
	if !limited {
		return nil
	}
	return joinList(scopes)
}

// IdentityBySubject finds the link of (provider, subject).
func (s *Store) IdentityBySubject(ctx context.Context, provider, subject string) (*Identity, error) {
	return scanIdentity(s.db.QueryRowContext(ctx, `SELECT `+identCols+` FROM identities WHERE provider = ? AND subject = ?`, provider, subject))
}

// IdentityOfUser finds the user's link at provider.
func (s *Store) IdentityOfUser(ctx context.Context, userID int64, provider string) (*Identity, error) {
	return scanIdentity(s.db.QueryRowContext(ctx, `SELECT `+identCols+` FROM identities WHERE user_id = ? AND provider = ?`, userID, provider))
}

// LinkIdentity links (provider, subject) to a user; ErrExists when that
// identity or the user's link at that provider already exists.
func (s *Store) LinkIdentity(ctx context.Context, id *Identity, evs ...*Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO identities (`+identCols+`) VALUES (?,?,?,?,?,?,?)`, id.Provider, id.Subject, id.UserID, id.RefreshSealed,
			maxScopesValue(id.ScopesLimited, id.MaxScopes), unix(id.CheckedAt), unix(id.LinkedAt))
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
				return ErrExists
			}
			return err
		}
		for _, ev := range evs {
			if err := insertEvent(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// CreateFederatedUser creates a user without a usable password and links
// (provider, subject) to it, in one transaction; ErrExists when the name is
// taken (the caller tries another) or the identity is already linked.
func (s *Store) CreateFederatedUser(ctx context.Context, name, passwordHash string, id *Identity, now time.Time, mkEvents func(userID int64) []*Event) (*User, error) {
	var u *User
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)`, name, passwordHash, unix(now))
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return ErrExists
			}
			return err
		}
		uid, err := res.LastInsertId()
		if err != nil {
			return err
		}
		id.UserID = uid
		if _, err := tx.Exec(`INSERT INTO identities (`+identCols+`) VALUES (?,?,?,?,?,?,?)`, id.Provider, id.Subject, uid, id.RefreshSealed,
			maxScopesValue(id.ScopesLimited, id.MaxScopes), unix(id.CheckedAt), unix(id.LinkedAt)); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
				return ErrExists
			}
			return err
		}
		for _, ev := range mkEvents(uid) {
			if err := insertEvent(tx, ev); err != nil {
				return err
			}
		}
		u = &User{ID: uid, Name: name, PasswordHash: passwordHash, CreatedAt: now}
		return nil
	})
	return u, err
}

// UpdateIdentity stores the outcome of a sign-in or re-check: the sealed
// upstream credential, the scope ceiling and the time.
func (s *Store) UpdateIdentity(ctx context.Context, id *Identity) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE identities SET refresh_sealed = ?, max_scopes = ?, checked_at = ? WHERE provider = ? AND subject = ?`,
			id.RefreshSealed, maxScopesValue(id.ScopesLimited, id.MaxScopes), unix(id.CheckedAt), id.Provider, id.Subject)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// UnlinkIdentity removes the link of (provider, subject); ErrNotFound if none.
func (s *Store) UnlinkIdentity(ctx context.Context, provider, subject string, evs ...*Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM identities WHERE provider = ? AND subject = ?`, provider, subject)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		for _, ev := range evs {
			if err := insertEvent(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// FederationStates is the database-backed federation.StateStore.
type FederationStates struct{ s *Store }

// FederationStates returns the StateStore over this database.
func (s *Store) FederationStates() FederationStates { return FederationStates{s} }

// Put stores a pending sign-in.
func (f FederationStates) Put(ctx context.Context, p federation.PendingLogin) error {
	return f.s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO federation_pending (state, provider, nonce, verifier, return_path, binding_hash, expires_at) VALUES (?,?,?,?,?,?,?)`,
			p.State, p.Provider, p.Nonce, p.Verifier, p.Return, p.BindingHash, unix(p.Expires))
		return err
	})
}

// Take returns and deletes a pending sign-in in one transaction, so a state
// is used at most once.
func (f FederationStates) Take(ctx context.Context, state string) (federation.PendingLogin, error) {
	var p federation.PendingLogin
	err := f.s.write(ctx, func(tx *sql.Tx) error {
		var exp int64
		err := tx.QueryRow(`DELETE FROM federation_pending WHERE state = ? RETURNING state, provider, nonce, verifier, return_path, binding_hash, expires_at`, state).
			Scan(&p.State, &p.Provider, &p.Nonce, &p.Verifier, &p.Return, &p.BindingHash, &exp)
		if errors.Is(err, sql.ErrNoRows) {
			return federation.ErrStateUnknown
		}
		p.Expires = fromUnix(exp)
		return err
	})
	return p, err
}

// WebSession is a browser session of the sign-in pages.
type WebSession struct {
	UserID    int64
	Provider  string
	ExpiresAt time.Time
}

// SaveWebSession stores a browser session by the hash of its cookie value.
func (s *Store) SaveWebSession(ctx context.Context, hash []byte, ws WebSession, now time.Time, evs ...*Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO web_sessions (token_hash, user_id, provider, created_at, expires_at) VALUES (?,?,?,?,?)`,
			hash, ws.UserID, ws.Provider, unix(now), unix(ws.ExpiresAt)); err != nil {
			return err
		}
		for _, ev := range evs {
			if err := insertEvent(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// WebSessionByHash finds an unexpired browser session.
func (s *Store) WebSessionByHash(ctx context.Context, hash []byte, now time.Time) (*WebSession, error) {
	var ws WebSession
	var exp int64
	err := s.db.QueryRowContext(ctx, `SELECT user_id, provider, expires_at FROM web_sessions WHERE token_hash = ? AND expires_at > ?`, hash, unix(now)).Scan(&ws.UserID, &ws.Provider, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	ws.ExpiresAt = fromUnix(exp)
	return &ws, err
}

// SetSessionProvider records that ref (an OAuth family, or "device:CODE")
// came from a federated sign-in at provider.
func (s *Store) SetSessionProvider(ctx context.Context, ref, provider string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO session_providers (ref, provider, created_at) VALUES (?,?,?)`, ref, provider, unix(now))
		return err
	})
}

// SessionProvider is the provider ref came from, or "" for a local sign-in.
func (s *Store) SessionProvider(ctx context.Context, ref string) (string, error) {
	var p string
	err := s.db.QueryRowContext(ctx, `SELECT provider FROM session_providers WHERE ref = ?`, ref).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return p, err
}

// SourcedMembership is a membership with the provider that made it.
type SourcedMembership struct {
	OrgID  int64
	Org    string
	Role   string
	Source string
}

// MembershipsOfUser lists a user's memberships with their source.
func (s *Store) MembershipsOfUser(ctx context.Context, userID int64) ([]SourcedMembership, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.id, o.slug, m.role, m.source FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ? ORDER BY o.slug`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SourcedMembership
	for rows.Next() {
		var m SourcedMembership
		if err := rows.Scan(&m.OrgID, &m.Org, &m.Role, &m.Source); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// AddSourcedMember adds userID to an organization with role, recording the
// provider whose mapping made the membership; ErrExists if already a member.
func (s *Store) AddSourcedMember(ctx context.Context, orgID, userID int64, role, source string, now time.Time, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO org_members (org_id, user_id, role, added_at, source) VALUES (?,?,?,?,?)`, orgID, userID, role, unix(now), source)
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
				return ErrExists
			}
			return err
		}
		if err := insertOrgEvent(tx, orgID, ev); err != nil {
			return err
		}
		return markViolations(tx, orgID, now)
	})
}

// PurgeFederation deletes expired pending sign-ins and browser sessions.
func (s *Store) PurgeFederation(ctx context.Context, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM federation_pending WHERE expires_at <= ?`, unix(now)); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM web_sessions WHERE expires_at <= ?`, unix(now))
		return err
	})
}
