package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// AddEvent records an event on its own (login failures, refused escalations).
func (s *Store) AddEvent(ctx context.Context, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error { return insertEvent(tx, ev) })
}

// EventFilter selects a user's events.
type EventFilter struct {
	UserID   int64
	Since    time.Time
	Types    []string
	KeyID    string
	AfterSeq int64
	Limit    int
}

func (f EventFilter) where() (string, []any) {
	q := ` WHERE user_id = ? AND seq > ? AND time >= ?`
	args := []any{f.UserID, f.AfterSeq, unix(f.Since)}
	if len(f.Types) > 0 {
		q += ` AND type IN (?` + strings.Repeat(",?", len(f.Types)-1) + `)`
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.KeyID != "" {
		q += ` AND key_id = ?`
		args = append(args, f.KeyID)
	}
	return q, args
}

// ForEachEvent streams matching events in order.
func (s *Store) ForEachEvent(ctx context.Context, f EventFilter, fn func(*Event) error) error {
	where, args := f.where()
	q := `SELECT seq, user_id, type, time, actor, key_id, ip, detail FROM audit_events` + where + ` ORDER BY seq`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var uid sql.NullInt64
		var t int64
		var key, ip sql.NullString
		if err := rows.Scan(&e.Seq, &uid, &e.Type, &t, &e.Actor, &key, &ip, &e.Detail); err != nil {
			return err
		}
		if uid.Valid {
			e.UserID = &uid.Int64
		}
		e.Time, e.KeyID, e.IP = fromUnix(t), nullString(key), nullString(ip)
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CountEvents counts events of a type since t across all users (health).
func (s *Store) CountEvents(ctx context.Context, typ string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE type = ? AND time >= ?`, typ, unix(since)).Scan(&n)
	return n, err
}
