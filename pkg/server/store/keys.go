package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
)

// KeyRecord is a stored API key (never the token, only its hash).
type KeyRecord struct {
	Seq         int64
	ID          string
	UserID      int64
	Name        string
	Prefix      string
	TokenHash   []byte
	Environment string
	Scopes      []string
	CIDRs       []string
	Namespaces  []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ExpiresAt   time.Time
	LastUsedAt  *time.Time
	LastUsedIP  *string
	RevokedAt   *time.Time
	RotatedFrom *string
	RotatedTo   *string
}

// Status derives the key's status at now.
func (k *KeyRecord) Status(now time.Time, expiringWithin time.Duration) string {
	switch {
	case k.RevokedAt != nil:
		return model.StatusRevoked
	case !now.Before(k.ExpiresAt):
		return model.StatusExpired
	case k.ExpiresAt.Sub(now) <= expiringWithin:
		return model.StatusExpiring
	}
	return model.StatusActive
}

// Usable: neither revoked nor expired at now.
func (k *KeyRecord) Usable(now time.Time) bool {
	return k.RevokedAt == nil && now.Before(k.ExpiresAt)
}

// Event is an audit event to record.
type Event struct {
	Seq    int64
	UserID *int64
	Type   string
	Time   time.Time
	Actor  string
	KeyID  *string
	IP     *string
	Detail string
	// OrgEvent: recorded for an organization itself (set by
	// ForEachOrgEvent), not one of a member's own events.
	OrgEvent bool
}

const keyCols = `seq, id, user_id, name, prefix, token_hash, environment, scopes, cidrs, namespaces,
	created_at, updated_at, expires_at, last_used_at, last_used_ip, revoked_at, rotated_from, rotated_to`

func scanKey(row interface{ Scan(...any) error }) (*KeyRecord, error) {
	var k KeyRecord
	var scopes, cidrs, ns string
	var created, updated, expires int64
	var lastUsed, revoked sql.NullInt64
	var lastIP, from, to sql.NullString
	err := row.Scan(&k.Seq, &k.ID, &k.UserID, &k.Name, &k.Prefix, &k.TokenHash, &k.Environment, &scopes, &cidrs, &ns,
		&created, &updated, &expires, &lastUsed, &lastIP, &revoked, &from, &to)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	k.Scopes, k.CIDRs, k.Namespaces = splitList(scopes), splitList(cidrs), splitList(ns)
	k.CreatedAt, k.UpdatedAt, k.ExpiresAt = fromUnix(created), fromUnix(updated), fromUnix(expires)
	k.LastUsedAt, k.RevokedAt = nullTime(lastUsed), nullTime(revoked)
	k.LastUsedIP, k.RotatedFrom, k.RotatedTo = nullString(lastIP), nullString(from), nullString(to)
	return &k, nil
}

func insertKey(tx *sql.Tx, k *KeyRecord) error {
	res, err := tx.Exec(`INSERT INTO api_keys (id, user_id, name, prefix, token_hash, environment, scopes, cidrs, namespaces,
		created_at, updated_at, expires_at, rotated_from) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		k.ID, k.UserID, k.Name, k.Prefix, k.TokenHash, k.Environment, joinList(k.Scopes), joinList(k.CIDRs), joinList(k.Namespaces),
		unix(k.CreatedAt), unix(k.CreatedAt), unix(k.ExpiresAt), k.RotatedFrom)
	if err != nil {
		return err
	}
	k.Seq, err = res.LastInsertId()
	k.UpdatedAt = k.CreatedAt
	return err
}

func insertEvent(tx *sql.Tx, e *Event) error {
	_, err := tx.Exec(`INSERT INTO audit_events (user_id, type, time, actor, key_id, ip, detail) VALUES (?,?,?,?,?,?,?)`,
		e.UserID, e.Type, unix(e.Time), e.Actor, e.KeyID, e.IP, e.Detail)
	return err
}

// countActive counts the user's usable keys that count toward the limit: a
// key in its rotation grace period (rotated_to set) does not, as each key has
// at most one predecessor in grace (see RotateKey).
func countActive(tx *sql.Tx, userID int64, now time.Time) (int, error) {
	var n int
	err := tx.QueryRow(`SELECT count(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND rotated_to IS NULL`, userID, unix(now)).Scan(&n)
	return n, err
}

// CreateKey inserts k and its audit event in one transaction, refusing with
// ErrKeyLimit when the user already holds maxActive usable keys.
func (s *Store) CreateKey(ctx context.Context, k *KeyRecord, maxActive int, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		n, err := countActive(tx, k.UserID, k.CreatedAt)
		if err != nil {
			return err
		}
		if n >= maxActive {
			return ErrKeyLimit
		}
		if err := insertKey(tx, k); err != nil {
			return err
		}
		return insertEvent(tx, ev)
	})
}

// KeyByHash finds the key whose token hashes to h (authentication).
// The token itself is never stored or compared: only its SHA-256 is, and
// the lookup is an equality search on the unique index of token_hash.
func (s *Store) KeyByHash(ctx context.Context, h []byte) (*KeyRecord, error) {
	return scanKey(s.db.QueryRowContext(ctx, keyByHashQuery, h))
}

const keyByHashQuery = `SELECT ` + keyCols + ` FROM api_keys WHERE token_hash = ?`

// KeyByID returns the user's key id; another user's key is ErrNotFound.
func (s *Store) KeyByID(ctx context.Context, userID int64, id string) (*KeyRecord, error) {
	return scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE id = ? AND user_id = ?`, id, userID))
}

// ListKeys returns up to limit keys after seq afterSeq; without all, only
// usable ones.
func (s *Store) ListKeys(ctx context.Context, userID int64, all bool, afterSeq int64, limit int, now time.Time) ([]*KeyRecord, error) {
	q := listKeysQuery(all)
	args := []any{userID, afterSeq, limit}
	if !all {
		args = []any{userID, unix(now), afterSeq, limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*KeyRecord
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// listKeysQuery is the key list's query. A page costs the same at 1,000 and
// at 100,000 keys (migration 4, api_keys_usable):
//   - all keys: keyset pagination on the (user_id, seq) index, which walks
//     only the page's rows;
//   - usable keys only: the partial index on the user's unrevoked keys by
//     expiry finds the unexpired ones by a range search, so revoked and
//     expired keys, however many, are never visited. Usable keys are few (the
//     active-key limit plus keys in their rotation grace), so sorting them by
//     seq costs little. INDEXED BY makes the query fail rather than fall back
//     to a scan if the index were ever missing.
func listKeysQuery(all bool) string {
	if all {
		return `SELECT ` + keyCols + ` FROM api_keys INDEXED BY api_keys_user WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?`
	}
	return `SELECT ` + keyCols + ` FROM api_keys INDEXED BY api_keys_usable
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND seq > ? ORDER BY seq LIMIT ?`
}

// ForEachKey streams the user's keys created or changed since (zero = all),
// row by row: the set is never held in memory.
func (s *Store) ForEachKey(ctx context.Context, userID int64, since time.Time, fn func(*KeyRecord) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE user_id = ? AND updated_at >= ? ORDER BY seq`, userID, unix(since))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Summary counts the user's keys (changed since) by status at now.
func (s *Store) Summary(ctx context.Context, userID int64, since, now time.Time, expiringWithin time.Duration) (model.ExportSummary, error) {
	var m model.ExportSummary
	n, soon := unix(now), unix(now.Add(expiringWithin))
	err := s.db.QueryRowContext(ctx, `SELECT
		coalesce(sum(CASE WHEN revoked_at IS NULL AND expires_at > ? THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN revoked_at IS NULL AND expires_at > ? AND expires_at <= ? THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN revoked_at IS NULL AND expires_at <= ? THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END), 0)
		FROM api_keys WHERE user_id = ? AND updated_at >= ?`, n, n, soon, n, userID, unix(since)).
		Scan(&m.Active, &m.Expiring, &m.Expired, &m.Revoked)
	// "active" counts keys that are not expiring, as the statuses are disjoint
	m.Active -= m.Expiring
	return m, err
}

// RevokeKey revokes the user's key id now and records ev.
//
// A predecessor still in its rotation grace is revoked with it (pred, nil
// when there is none), recorded with a copy of ev.
func (s *Store) RevokeKey(ctx context.Context, userID int64, id string, now time.Time, ev *Event) (out, pred *KeyRecord, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		k, err := scanKey(tx.QueryRow(`SELECT `+keyCols+` FROM api_keys WHERE id = ? AND user_id = ?`, id, userID))
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return ErrAlreadyRevoked
		}
		if _, err := tx.Exec(`UPDATE api_keys SET revoked_at = ?, updated_at = ? WHERE seq = ?`, unix(now), unix(now), k.Seq); err != nil {
			return err
		}
		t := now.UTC().Truncate(time.Second)
		k.RevokedAt, k.UpdatedAt = &t, t
		out = k
		if err := insertEvent(tx, ev); err != nil {
			return err
		}
		pred, err = endPredecessorGrace(tx, k, now, ev)
		return err
	})
	return out, pred, err
}

// endPredecessorGrace revokes the predecessor of k (revoked just now) if it
// is still usable in its rotation grace: a key in grace is not counted toward
// the limits because its successor stands for it, so when the successor goes
// the grace ends too. Otherwise create, rotate with a long grace and revoke
// the replacement, repeated, would pile up uncounted usable keys. ev is the
// revocation's event, copied for the predecessor.
func endPredecessorGrace(tx *sql.Tx, k *KeyRecord, now time.Time, ev *Event) (*KeyRecord, error) {
	if k.RotatedFrom == nil {
		return nil, nil
	}
	pred, err := scanKey(tx.QueryRow(`SELECT `+keyCols+` FROM api_keys WHERE id = ? AND user_id = ?`, *k.RotatedFrom, k.UserID))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !pred.Usable(now) || pred.RotatedTo == nil || *pred.RotatedTo != k.ID {
		return nil, nil
	}
	if _, err := tx.Exec(`UPDATE api_keys SET revoked_at = ?, updated_at = ? WHERE seq = ?`, unix(now), unix(now), pred.Seq); err != nil {
		return nil, err
	}
	t := now.UTC().Truncate(time.Second)
	pred.RevokedAt, pred.UpdatedAt = &t, t
	pe := *ev
	pe.KeyID = &pred.ID
	pe.Detail = "grace ended: its successor " + k.ID + " was revoked"
	return pred, insertEvent(tx, &pe)
}

// IdemTTL is how long a stored answer is kept for retries.
const IdemTTL = 24 * time.Hour

// Idem identifies a retried request: the same user and Idempotency-Key with
// the same request fingerprint, from the same credential, returns the stored
// answer.
type Idem struct {
	Key     string // a hash of the client's Idempotency-Key, never the key itself
	Request string // what was asked (method and target)
	// Credential names the credential that asked first (an API key's id, an
	// OAuth session's family, a JWT's signing key); only it gets the answer.
	Credential string
	// Seal and Open encrypt the stored answer: it holds a new token, which
	// must not rest in the database in plain text.
	Seal func([]byte) []byte
	Open func([]byte) ([]byte, error)
}

// ErrIdempotencyCredential: the Idempotency-Key's answer belongs to another
// credential.
var ErrIdempotencyCredential = errors.New("idempotency key of another credential")

// Stored is a remembered answer.
type Stored struct {
	Status int
	Body   []byte
	// Replayed: the answer was stored by an earlier request.
	Replayed bool
}

// lookupIdem returns a stored answer, ErrIdempotencyKey if the key was used
// for another request, ErrIdempotencyCredential if by another credential, or
// nil when unseen (or older than IdemTTL, then forgotten).
func lookupIdem(tx *sql.Tx, userID int64, idem *Idem, now time.Time) (*Stored, error) {
	if idem == nil {
		return nil, nil
	}
	if _, err := tx.Exec(`DELETE FROM idempotency WHERE user_id = ? AND key = ? AND created_at <= ?`, userID, idem.Key, unix(now.Add(-IdemTTL))); err != nil {
		return nil, err
	}
	var st Stored
	var req, cred string
	err := tx.QueryRow(`SELECT request, status, body, credential FROM idempotency WHERE user_id = ? AND key = ?`, userID, idem.Key).Scan(&req, &st.Status, &st.Body, &cred)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if req != idem.Request {
		return nil, ErrIdempotencyKey
	}
	if cred != idem.Credential {
		return nil, ErrIdempotencyCredential
	}
	body, err := idem.Open(st.Body)
	if err != nil {
		return nil, ErrIdempotencyKey
	}
	st.Body, st.Replayed = body, true
	return &st, nil
}

func saveIdem(tx *sql.Tx, userID int64, idem *Idem, st Stored, now time.Time) error {
	if idem == nil {
		return nil
	}
	_, err := tx.Exec(`INSERT INTO idempotency (user_id, key, request, status, body, created_at, credential) VALUES (?,?,?,?,?,?,?)`,
		userID, idem.Key, idem.Request, st.Status, idem.Seal(st.Body), unix(now), idem.Credential)
	return err
}

// RotateParams describe a rotation.
type RotateParams struct {
	UserID  int64
	OldID   string
	New     *KeyRecord // ID, hash, prefix, expiry set by the caller; the rest copied
	GraceTo time.Time  // when the old key stops working; <= now revokes it at once
	Now     time.Time
	Idem    *Idem
	// Authorize sees the old key first, before any stored answer is
	// replayed: it refuses a caller whose ceiling the key exceeds.
	Authorize func(old *KeyRecord) error
	// Prepare sees the old key before the new one is written: it sets the
	// new key's token hash, prefix and expiry.
	Prepare func(old, nw *KeyRecord) error
	// GraceEnded builds the event of a predecessor whose grace period the
	// rotation ends (a key has at most one predecessor in grace).
	GraceEnded func(pred *KeyRecord) *Event
	// Events builds the audit events once both keys are known.
	Events func(old, nw *KeyRecord) []*Event
	// Render builds the answer to store for retries.
	Render func(old, nw *KeyRecord) (Stored, error)
}

// RotateKey creates the replacement, links both ways, shortens or ends the
// old key's life, records events and the idempotent answer in one transaction.
func (s *Store) RotateKey(ctx context.Context, p RotateParams) (Stored, error) {
	var out Stored
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := scanKey(tx.QueryRow(`SELECT `+keyCols+` FROM api_keys WHERE id = ? AND user_id = ?`, p.OldID, p.UserID))
		if err != nil {
			return err
		}
		// authorize before anything is replayed
		if err := p.Authorize(old); err != nil {
			return err
		}
		if st, err := lookupIdem(tx, p.UserID, p.Idem, p.Now); err != nil || st != nil {
			if st != nil {
				out = *st
			}
			return err
		}
		if !old.Usable(p.Now) {
			if old.RevokedAt != nil {
				return ErrAlreadyRevoked
			}
			return ErrNotFound
		}
		if old.RotatedTo != nil {
			return ErrAlreadyRevoked
		}
		nw := p.New
		nw.UserID, nw.Name, nw.Environment = old.UserID, old.Name, old.Environment
		nw.Scopes, nw.CIDRs, nw.Namespaces = old.Scopes, old.CIDRs, old.Namespaces
		nw.RotatedFrom = &old.ID
		if err := p.Prepare(old, nw); err != nil {
			return err
		}
		if err := insertKey(tx, nw); err != nil {
			return err
		}
		now := p.Now.UTC().Truncate(time.Second)
		// a key has at most one predecessor in grace: rotating it again ends
		// the grace of the one before
		if old.RotatedFrom != nil {
			pred, err := scanKey(tx.QueryRow(`SELECT `+keyCols+` FROM api_keys WHERE id = ? AND user_id = ?`, *old.RotatedFrom, p.UserID))
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err == nil && pred.Usable(p.Now) {
				if _, err := tx.Exec(`UPDATE api_keys SET revoked_at = ?, updated_at = ? WHERE seq = ?`, unix(now), unix(now), pred.Seq); err != nil {
					return err
				}
				pred.RevokedAt, pred.UpdatedAt = &now, now
				if p.GraceEnded != nil {
					if err := insertEvent(tx, p.GraceEnded(pred)); err != nil {
						return err
					}
				}
			}
		}
		old.RotatedTo, old.UpdatedAt = &nw.ID, now
		if !p.GraceTo.After(p.Now) {
			old.RevokedAt = &now
		} else if p.GraceTo.Before(old.ExpiresAt) {
			old.ExpiresAt = p.GraceTo.UTC().Truncate(time.Second)
		}
		_, err = tx.Exec(`UPDATE api_keys SET rotated_to = ?, updated_at = ?, expires_at = ?, revoked_at = ? WHERE seq = ?`,
			nw.ID, unix(now), unix(old.ExpiresAt), nullUnix(old.RevokedAt), old.Seq)
		if err != nil {
			return err
		}
		for _, ev := range p.Events(old, nw) {
			if err := insertEvent(tx, ev); err != nil {
				return err
			}
		}
		st, err := p.Render(old, nw)
		if err != nil {
			return err
		}
		out = st
		return saveIdem(tx, p.UserID, p.Idem, st, p.Now)
	})
	return out, err
}

func nullUnix(t *time.Time) any {
	if t == nil {
		return nil
	}
	return unix(*t)
}

// MarkUsed records a use of key id from ip with its token:used event.
func (s *Store) MarkUsed(ctx context.Context, keyID string, ip string, now time.Time, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE api_keys SET last_used_at = ?, last_used_ip = ? WHERE id = ?`, unix(now), ip, keyID); err != nil {
			return err
		}
		return insertEvent(tx, ev)
	})
}

// KeysPage returns up to limit of the user's keys created or changed since,
// after seq afterSeq, in order. The rows are read and closed before it
// returns: a caller that then waits on a slow client holds no connection.
func (s *Store) KeysPage(ctx context.Context, userID int64, since time.Time, afterSeq int64, limit int) ([]*KeyRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE user_id = ? AND updated_at >= ? AND seq > ? ORDER BY seq LIMIT ?`,
		userID, unix(since), afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]*KeyRecord, 0, limit)
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
