package store

import (
	"context"
	"database/sql"
	"time"
)

// Purged counts the rows a Purge deleted, by table.
type Purged struct {
	DeviceCodes, AuthCodes, OAuthTokens, Idempotency int64
}

// Total is the number of rows deleted.
func (p Purged) Total() int64 { return p.DeviceCodes + p.AuthCodes + p.OAuthTokens + p.Idempotency }

// Purge deletes what can no longer be used at now: device codes and
// authorization codes expired for an hour (so a late poll still hears
// "expired"), OAuth tokens expired for a day, and stored rotation answers
// older than IdemTTL. Anonymous requests create the first two, so without
// this the database grows forever.
func (s *Store) Purge(ctx context.Context, now time.Time) (Purged, error) {
	var p Purged
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []struct {
			n   *int64
			sql string
			arg int64
		}{
			{&p.DeviceCodes, `DELETE FROM device_codes WHERE expires_at <= ?`, unix(now.Add(-time.Hour))},
			{&p.AuthCodes, `DELETE FROM oauth_codes WHERE expires_at <= ?`, unix(now.Add(-time.Hour))},
			{&p.OAuthTokens, `DELETE FROM oauth_tokens WHERE expires_at <= ?`, unix(now.Add(-24 * time.Hour))},
			{&p.Idempotency, `DELETE FROM idempotency WHERE created_at <= ?`, unix(now.Add(-IdemTTL))},
		} {
			res, err := tx.Exec(q.sql, q.arg)
			if err != nil {
				return err
			}
			*q.n, _ = res.RowsAffected()
		}
		return nil
	})
	return p, err
}
