package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// notifyMigrations add webhooks and e-mail addresses (issue 21). They run
// after the other migrations, in order.
var notifyMigrations = []string{
	// users' e-mail addresses (expiry notices); webhook endpoints, owned by a
	// user or an organization, with their signing secret encrypted (the
	// server needs it to sign, so it cannot be hashed) and the previous one
	// kept while a rotation is in progress; the delivery log (one row per
	// message and endpoint, one per attempt); and the position of the
	// webhook dispatcher in the audit log, starting at the current end so
	// that past events are not sent.
	`CREATE TABLE user_emails (
		user_id INTEGER PRIMARY KEY REFERENCES users(id),
		email TEXT NOT NULL
	);
	CREATE TABLE webhook_endpoints (
		id TEXT PRIMARY KEY,
		user_id INTEGER REFERENCES users(id),
		org_id INTEGER REFERENCES orgs(id) ON DELETE CASCADE,
		url TEXT NOT NULL,
		events TEXT NOT NULL,
		secret_sealed BLOB NOT NULL,
		prev_secret_sealed BLOB,
		prev_secret_until INTEGER,
		created_by TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		failing_since INTEGER,
		from_seq INTEGER NOT NULL,          -- audit events after this one reach it
		CHECK ((org_id IS NULL) <> (user_id IS NULL))
	);
	CREATE INDEX webhook_endpoints_user ON webhook_endpoints(user_id);
	CREATE INDEX webhook_endpoints_org ON webhook_endpoints(org_id);
	CREATE TABLE webhook_deliveries (
		id TEXT PRIMARY KEY,
		endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
		message_id TEXT NOT NULL,
		event_type TEXT NOT NULL,
		payload BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		status TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | failed
		attempts INTEGER NOT NULL DEFAULT 0,
		UNIQUE (endpoint_id, message_id)
	);
	CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at);
	CREATE TABLE webhook_attempts (
		delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
		attempt INTEGER NOT NULL,
		at INTEGER NOT NULL,
		status_code INTEGER NOT NULL,
		duration_ms INTEGER NOT NULL,
		response TEXT NOT NULL,
		error TEXT NOT NULL
	);
	CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id);
	CREATE TABLE webhook_cursor (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		event_seq INTEGER NOT NULL
	);
	INSERT INTO webhook_cursor SELECT 1, COALESCE(MAX(seq), 0) FROM audit_events;`,
}

// SetUserEmail sets (or, with "", clears) a user's e-mail address.
func (s *Store) SetUserEmail(ctx context.Context, name, email string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRow(`SELECT id FROM users WHERE name = ?`, name).Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if email == "" {
			_, err := tx.Exec(`DELETE FROM user_emails WHERE user_id = ?`, id)
			return err
		}
		_, err := tx.Exec(`INSERT INTO user_emails (user_id, email) VALUES (?, ?)
			ON CONFLICT (user_id) DO UPDATE SET email = excluded.email`, id, email)
		return err
	})
}

// UserEmail returns a user's e-mail address ("" when none is set).
func (s *Store) UserEmail(ctx context.Context, userID int64) (string, error) {
	var e string
	err := s.db.QueryRowContext(ctx, `SELECT email FROM user_emails WHERE user_id = ?`, userID).Scan(&e)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return e, err
}

// Endpoint is a webhook endpoint. Secret and PrevSecret are sealed (the
// server opens them to sign).
type Endpoint struct {
	ID              string
	UserID, OrgID   *int64
	URL             string
	Events          []string
	Secret          []byte
	PrevSecret      []byte
	PrevSecretUntil *time.Time
	CreatedBy       string
	CreatedAt       time.Time
	FailingSince    *time.Time
}

const endpointCols = `id, user_id, org_id, url, events, secret_sealed, prev_secret_sealed, prev_secret_until, created_by, created_at, failing_since`

func scanEndpoint(row interface{ Scan(...any) error }) (*Endpoint, error) {
	var e Endpoint
	var uid, oid, until, failing sql.NullInt64
	var events string
	var created int64
	if err := row.Scan(&e.ID, &uid, &oid, &e.URL, &events, &e.Secret, &e.PrevSecret, &until, &e.CreatedBy, &created, &failing); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if uid.Valid {
		e.UserID = &uid.Int64
	}
	if oid.Valid {
		e.OrgID = &oid.Int64
	}
	e.Events, e.CreatedAt = splitList(events), fromUnix(created)
	e.PrevSecretUntil, e.FailingSince = nullTime(until), nullTime(failing)
	return &e, nil
}

// CreateEndpoint stores a new endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, e *Endpoint) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO webhook_endpoints (id, user_id, org_id, url, events, secret_sealed, created_by, created_at, from_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) FROM audit_events))`, e.ID, e.UserID, e.OrgID, e.URL, joinList(e.Events), e.Secret, e.CreatedBy, unix(e.CreatedAt))
		return err
	})
}

// Endpoint returns an endpoint by id.
func (s *Store) Endpoint(ctx context.Context, id string) (*Endpoint, error) {
	return scanEndpoint(s.db.QueryRowContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = ?`, id))
}

// Endpoints lists a user's (orgID 0) or an organization's endpoints.
func (s *Store) Endpoints(ctx context.Context, userID, orgID int64) ([]*Endpoint, error) {
	q, arg := `SELECT `+endpointCols+` FROM webhook_endpoints WHERE user_id = ? ORDER BY created_at, id`, userID
	if orgID != 0 {
		q, arg = `SELECT `+endpointCols+` FROM webhook_endpoints WHERE org_id = ? ORDER BY created_at, id`, orgID
	}
	return queryEndpoints(s.db.QueryContext(ctx, q, arg))
}

func queryEndpoints(rows *sql.Rows, err error) ([]*Endpoint, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteEndpoint removes an endpoint and its delivery log.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM webhook_endpoints WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// RotateEndpointSecret replaces the secret; the old one stays valid (both
// sign) until prevUntil.
func (s *Store) RotateEndpointSecret(ctx context.Context, id string, sealed []byte, prevUntil time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE webhook_endpoints SET prev_secret_sealed = secret_sealed, prev_secret_until = ?, secret_sealed = ? WHERE id = ?`,
			unix(prevUntil), sealed, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// SetEndpointFailing marks an endpoint failing (since at) or, with a zero
// at, healthy again.
func (s *Store) SetEndpointFailing(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if at.IsZero() {
			_, err := tx.Exec(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?`, id)
			return err
		}
		_, err := tx.Exec(`UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?) WHERE id = ?`, unix(at), id)
		return err
	})
}

// Tx runs fn in one write transaction: a change and the jobs it enqueues
// (River's InsertTx on the same database) commit together.
func (s *Store) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.write(ctx, fn)
}

// EndpointsForTx returns the endpoints subscribed to event that belong to
// user userID, or to an organization in orgIDs; for an audit event (seq >
// 0), only those that existed before it.
func EndpointsForTx(tx *sql.Tx, event string, seq int64, userID int64, orgIDs []int64) ([]*Endpoint, error) {
	q := `SELECT ` + endpointCols + ` FROM webhook_endpoints WHERE (user_id = ?`
	args := []any{userID}
	if len(orgIDs) > 0 {
		q += ` OR org_id IN (?` + strings.Repeat(",?", len(orgIDs)-1) + `)`
		for _, id := range orgIDs {
			args = append(args, id)
		}
	}
	q += `) AND (' ' || events || ' ') LIKE ? AND (? = 0 OR from_seq < ?) ORDER BY id`
	args = append(args, "% "+event+" %", seq, seq)
	return queryEndpoints(tx.Query(q, args...))
}

// Delivery is one message to one endpoint, with its latest attempt.
type Delivery struct {
	ID         string
	EndpointID string
	MessageID  string
	EventType  string
	Payload    []byte
	CreatedAt  time.Time
	Status     string // pending | delivered | failed
	Attempts   int
	Last       *Attempt
}

// Attempt is one delivery attempt in the log.
type Attempt struct {
	Attempt    int
	At         time.Time
	StatusCode int
	DurationMS int64
	Response   string
	Error      string
}

// AddDeliveryTx records a delivery; it reports false when the endpoint has
// this message already (the caller enqueues nothing then).
func AddDeliveryTx(tx *sql.Tx, d *Delivery) (bool, error) {
	res, err := tx.Exec(`INSERT OR IGNORE INTO webhook_deliveries (id, endpoint_id, message_id, event_type, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, d.ID, d.EndpointID, d.MessageID, d.EventType, d.Payload, unix(d.CreatedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const deliveryCols = `d.id, d.endpoint_id, d.message_id, d.event_type, d.payload, d.created_at, d.status, d.attempts,
	a.attempt, a.at, a.status_code, a.duration_ms, a.response, a.error`

const deliveryFrom = ` FROM webhook_deliveries d LEFT JOIN webhook_attempts a
	ON a.delivery_id = d.id AND a.attempt = d.attempts`

func scanDelivery(row interface{ Scan(...any) error }) (*Delivery, error) {
	var d Delivery
	var created int64
	var att, at, code, dur sql.NullInt64
	var resp, errText sql.NullString
	if err := row.Scan(&d.ID, &d.EndpointID, &d.MessageID, &d.EventType, &d.Payload, &created, &d.Status, &d.Attempts,
		&att, &at, &code, &dur, &resp, &errText); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	d.CreatedAt = fromUnix(created)
	if att.Valid {
		d.Last = &Attempt{Attempt: int(att.Int64), At: fromUnix(at.Int64), StatusCode: int(code.Int64), DurationMS: dur.Int64, Response: resp.String, Error: errText.String}
	}
	return &d, nil
}

// DeliveryByID returns a delivery.
func (s *Store) DeliveryByID(ctx context.Context, id string) (*Delivery, error) {
	return scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryCols+deliveryFrom+` WHERE d.id = ?`, id))
}

// DeliveryByMessage returns the delivery of a message to an endpoint.
func (s *Store) DeliveryByMessage(ctx context.Context, endpointID, messageID string) (*Delivery, error) {
	return scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryCols+deliveryFrom+` WHERE d.endpoint_id = ? AND d.message_id = ?`, endpointID, messageID))
}

// Deliveries lists an endpoint's deliveries, newest first (at most limit).
func (s *Store) Deliveries(ctx context.Context, endpointID string, limit int) ([]*Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryCols+deliveryFrom+` WHERE d.endpoint_id = ? ORDER BY d.created_at DESC, d.rowid DESC LIMIT ?`, endpointID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RecordAttempt appends an attempt to the log and sets the delivery's
// status (pending while retried, delivered, failed).
func (s *Store) RecordAttempt(ctx context.Context, deliveryID, status string, a Attempt) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT attempts FROM webhook_deliveries WHERE id = ?`, deliveryID).Scan(&n); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		n++
		if _, err := tx.Exec(`INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, duration_ms, response, error) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			deliveryID, n, unix(a.At), a.StatusCode, a.DurationMS, a.Response, a.Error); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE webhook_deliveries SET attempts = ?, status = ? WHERE id = ?`, n, status, deliveryID)
		return err
	})
}

// SetDeliveryStatus sets a delivery's status (failed at the end of the
// retry window, pending at a redelivery).
func (s *Store) SetDeliveryStatus(ctx context.Context, id, status string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE webhook_deliveries SET status = ? WHERE id = ?`, status, id)
		return err
	})
}

// WebhookCursorTx returns the sequence number of the last audit event the
// webhook dispatcher handled.
func WebhookCursorTx(tx *sql.Tx) (int64, error) {
	var seq int64
	err := tx.QueryRow(`SELECT event_seq FROM webhook_cursor WHERE id = 1`).Scan(&seq)
	return seq, err
}

// SetWebhookCursorTx moves the dispatcher's position.
func SetWebhookCursorTx(tx *sql.Tx, seq int64) error {
	_, err := tx.Exec(`UPDATE webhook_cursor SET event_seq = ? WHERE id = 1`, seq)
	return err
}

// EventsAfterTx returns up to limit events of the given types after seq, in
// order, with the organization each was recorded for (0: none).
func EventsAfterTx(tx *sql.Tx, seq int64, types []string, limit int) ([]*Event, []int64, error) {
	q := `SELECT seq, user_id, COALESCE(org_id, 0), type, time, actor, key_id, ip, detail FROM audit_events
		WHERE seq > ? AND type IN (?` + strings.Repeat(",?", len(types)-1) + `) ORDER BY seq LIMIT ?`
	args := []any{seq}
	for _, t := range types {
		args = append(args, t)
	}
	args = append(args, limit)
	rows, err := tx.Query(q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var evs []*Event
	var orgs []int64
	for rows.Next() {
		var e Event
		var uid sql.NullInt64
		var org, t int64
		var key, ip sql.NullString
		if err := rows.Scan(&e.Seq, &uid, &org, &e.Type, &t, &e.Actor, &key, &ip, &e.Detail); err != nil {
			return nil, nil, err
		}
		if uid.Valid {
			e.UserID = &uid.Int64
		}
		e.Time, e.KeyID, e.IP = fromUnix(t), nullString(key), nullString(ip)
		evs = append(evs, &e)
		orgs = append(orgs, org)
	}
	return evs, orgs, rows.Err()
}

// EventsPending reports whether audit events of the given types were
// recorded after the dispatcher's position (a read: the dispatcher opens a
// write transaction only then).
func (s *Store) EventsPending(ctx context.Context, types []string) (bool, error) {
	q := `SELECT EXISTS (SELECT 1 FROM audit_events WHERE seq > (SELECT event_seq FROM webhook_cursor WHERE id = 1)
		AND type IN (?` + strings.Repeat(",?", len(types)-1) + `))`
	args := make([]any, 0, len(types))
	for _, t := range types {
		args = append(args, t)
	}
	var ok bool
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&ok)
	return ok, err
}

// CountUserEventsTx counts a user's events of a type after from, up to and
// including the event uptoSeq.
func CountUserEventsTx(tx *sql.Tx, userID int64, typ string, from time.Time, uptoSeq int64) (int, error) {
	var n int
	err := tx.QueryRow(`SELECT count(*) FROM audit_events WHERE user_id = ? AND type = ? AND time > ? AND seq <= ?`,
		userID, typ, unix(from), uptoSeq).Scan(&n)
	return n, err
}

// OrgsReachedTx returns the organizations user userID belongs to whose npm
// scopes a key with these namespaces reaches (org webhooks get its events).
func OrgsReachedTx(tx *sql.Tx, userID int64, reaches func(scopes []string) bool) ([]int64, error) {
	rows, err := tx.Query(`SELECT org_id FROM org_members WHERE user_id = ?`, userID)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []int64
	for _, id := range ids {
		scopes, err := orgScopes(tx, id)
		if err != nil {
			return nil, err
		}
		if reaches(scopes) {
			out = append(out, id)
		}
	}
	return out, nil
}

// KeyByIDAny returns a key whoever owns it (the notice job).
func (s *Store) KeyByIDAny(ctx context.Context, id string) (*KeyRecord, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return k, err
}

// KeyByIDTx is KeyByIDAny inside a transaction.
func KeyByIDTx(tx *sql.Tx, id string) (*KeyRecord, error) {
	k, err := scanKey(tx.QueryRow(`SELECT `+keyCols+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return k, err
}

// ExpiringKeys returns the keys not revoked whose expiry falls in (from, to].
func (s *Store) ExpiringKeys(ctx context.Context, from, to time.Time) ([]*KeyRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE revoked_at IS NULL AND expires_at > ? AND expires_at <= ? ORDER BY seq`,
		unix(from), unix(to))
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

// UserNameTx is a user's name read inside tx: a dispatch holding the write
// transaction must not wait for a second pooled connection.
func UserNameTx(tx *sql.Tx, userID int64) (string, error) {
	var name string
	err := tx.QueryRow(`SELECT name FROM users WHERE id = ?`, userID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}
