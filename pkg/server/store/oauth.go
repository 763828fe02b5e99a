package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// OAuthToken is a stored access or refresh token (hash only).
type OAuthToken struct {
	ID        string
	FamilyID  string
	UserID    int64
	Kind      string
	Hash      []byte
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

// ErrReused: a refresh token or authorization code presented a second time.
var ErrReused = errors.New("reused")

const tokCols = `id, family_id, user_id, kind, token_hash, scopes, created_at, expires_at, used_at, revoked_at`

func scanTok(row interface{ Scan(...any) error }) (*OAuthToken, error) {
	var t OAuthToken
	var scopes string
	var created, expires int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&t.ID, &t.FamilyID, &t.UserID, &t.Kind, &t.Hash, &scopes, &created, &expires, &used, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	t.Scopes, t.CreatedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = splitList(scopes), fromUnix(created), fromUnix(expires), nullTime(used), nullTime(revoked)
	return &t, nil
}

func insertTok(tx *sql.Tx, t *OAuthToken) error {
	_, err := tx.Exec(`INSERT INTO oauth_tokens (`+tokCols+`) VALUES (?,?,?,?,?,?,?,?,NULL,NULL)`,
		t.ID, t.FamilyID, t.UserID, t.Kind, t.Hash, joinList(t.Scopes), unix(t.CreatedAt), unix(t.ExpiresAt))
	return err
}

// TokenByHash finds an OAuth token.
func (s *Store) TokenByHash(ctx context.Context, h []byte) (*OAuthToken, error) {
	return scanTok(s.db.QueryRowContext(ctx, `SELECT `+tokCols+` FROM oauth_tokens WHERE token_hash = ?`, h))
}

// IssueTokens stores a new access + refresh pair (and events).
func (s *Store) IssueTokens(ctx context.Context, access, refresh *OAuthToken, evs ...*Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := insertTok(tx, access); err != nil {
			return err
		}
		if err := insertTok(tx, refresh); err != nil {
			return err
		}
		for _, e := range evs {
			if err := insertEvent(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func revokeFamily(tx *sql.Tx, family string, now time.Time) error {
	_, err := tx.Exec(`UPDATE oauth_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`, unix(now), family)
	return err
}

// RevokeFamily ends every token of a login.
func (s *Store) RevokeFamily(ctx context.Context, family string, now time.Time, evs ...*Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := revokeFamily(tx, family, now); err != nil {
			return err
		}
		for _, e := range evs {
			if err := insertEvent(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// RotateRefresh spends the refresh token with hash h and stores the new pair
// in one transaction. A refresh token spent before revokes its whole family
// and returns ErrReused (RFC 9700 §4.14: reuse means theft).
func (s *Store) RotateRefresh(ctx context.Context, h []byte, now time.Time, mk func(old *OAuthToken) (access, refresh *OAuthToken)) (*OAuthToken, *OAuthToken, error) {
	var access, refresh *OAuthToken
	var reused bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := scanTok(tx.QueryRow(`SELECT `+tokCols+` FROM oauth_tokens WHERE token_hash = ? AND kind = 'refresh'`, h))
		if err != nil {
			return err
		}
		if old.UsedAt != nil {
			reused = true
			return revokeFamily(tx, old.FamilyID, now)
		}
		if old.RevokedAt != nil || !now.Before(old.ExpiresAt) {
			return ErrNotFound
		}
		if _, err := tx.Exec(`UPDATE oauth_tokens SET used_at = ? WHERE id = ?`, unix(now), old.ID); err != nil {
			return err
		}
		access, refresh = mk(old)
		if err := insertTok(tx, access); err != nil {
			return err
		}
		return insertTok(tx, refresh)
	})
	if reused && err == nil {
		return nil, nil, ErrReused
	}
	return access, refresh, err
}

// AuthCode is a stored authorization code.
type AuthCode struct {
	Hash        []byte
	UserID      int64
	ClientID    string
	RedirectURI string
	Challenge   string
	Scopes      []string
	ExpiresAt   time.Time
	FamilyID    string
}

// SaveCode stores an authorization code.
func (s *Store) SaveCode(ctx context.Context, c *AuthCode) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO oauth_codes (code_hash, user_id, client_id, redirect_uri, challenge, scopes, expires_at, family_id) VALUES (?,?,?,?,?,?,?,?)`,
			c.Hash, c.UserID, c.ClientID, c.RedirectURI, c.Challenge, joinList(c.Scopes), unix(c.ExpiresAt), c.FamilyID)
		return err
	})
}

// SpendCode marks a code used and returns it. A code used before revokes
// the tokens it issued and returns ErrReused.
func (s *Store) SpendCode(ctx context.Context, h []byte, now time.Time) (*AuthCode, error) {
	var c AuthCode
	var reused bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var scopes string
		var exp int64
		var used sql.NullInt64
		err := tx.QueryRow(`SELECT user_id, client_id, redirect_uri, challenge, scopes, expires_at, used_at, family_id FROM oauth_codes WHERE code_hash = ?`, h).
			Scan(&c.UserID, &c.ClientID, &c.RedirectURI, &c.Challenge, &scopes, &exp, &used, &c.FamilyID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		c.Hash, c.Scopes, c.ExpiresAt = h, splitList(scopes), fromUnix(exp)
		if used.Valid {
			reused = true
			return revokeFamily(tx, c.FamilyID, now)
		}
		_, err = tx.Exec(`UPDATE oauth_codes SET used_at = ? WHERE code_hash = ?`, unix(now), h)
		return err
	})
	if reused && err == nil {
		return nil, ErrReused
	}
	return &c, err
}

// DeviceCode is a pending device authorization.
type DeviceCode struct {
	Hash      []byte
	UserCode  string
	ClientID  string
	Scopes    []string
	ExpiresAt time.Time
	Interval  int64
	LastPoll  time.Time
	Status    string
	UserID    *int64
}

// SaveDevice stores a device authorization.
func (s *Store) SaveDevice(ctx context.Context, d *DeviceCode) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO device_codes (device_hash, user_code, client_id, scopes, expires_at, interval) VALUES (?,?,?,?,?,?)`,
			d.Hash, d.UserCode, d.ClientID, joinList(d.Scopes), unix(d.ExpiresAt), d.Interval)
		return err
	})
}

const devCols = `device_hash, user_code, client_id, scopes, expires_at, interval, last_poll_ms, status, user_id`

func scanDev(row interface{ Scan(...any) error }) (*DeviceCode, error) {
	var d DeviceCode
	var scopes string
	var exp, last int64
	var uid sql.NullInt64
	if err := row.Scan(&d.Hash, &d.UserCode, &d.ClientID, &scopes, &exp, &d.Interval, &last, &d.Status, &uid); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	d.Scopes, d.ExpiresAt, d.LastPoll = splitList(scopes), fromUnix(exp), time.UnixMilli(last)
	if uid.Valid {
		d.UserID = &uid.Int64
	}
	return &d, nil
}

// DeviceByUserCode finds a pending authorization by the code a person typed.
func (s *Store) DeviceByUserCode(ctx context.Context, code string) (*DeviceCode, error) {
	return scanDev(s.db.QueryRowContext(ctx, `SELECT `+devCols+` FROM device_codes WHERE user_code = ?`, code))
}

// DecideDevice approves or denies a pending device authorization.
func (s *Store) DecideDevice(ctx context.Context, userCode, status string, userID int64, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE device_codes SET status = ?, user_id = ? WHERE user_code = ? AND status = 'pending'`, status, userID, userCode)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return insertEvent(tx, ev)
	})
}

// PollDevice records a poll and returns the authorization as it was before
// the poll. With slowDown it adds 5 s to the interval (RFC 8628 §3.5). An
// approved code is consumed: tokens are issued once.
func (s *Store) PollDevice(ctx context.Context, h []byte, now time.Time, decide func(d *DeviceCode) (slowDown, consume bool)) (*DeviceCode, error) {
	var d *DeviceCode
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDev(tx.QueryRow(`SELECT `+devCols+` FROM device_codes WHERE device_hash = ?`, h))
		if err != nil {
			return err
		}
		slow, consume := decide(d)
		interval := d.Interval
		if slow {
			interval += 5
		}
		status := d.Status
		if consume {
			status = "consumed"
		}
		_, err = tx.Exec(`UPDATE device_codes SET last_poll_ms = ?, interval = ?, status = ? WHERE device_hash = ?`, now.UnixMilli(), interval, status, h)
		return err
	})
	return d, err
}
