package store

import (
	"context"
	"database/sql"
	"time"
)

// RevokeLeaked handles a leaked key in one transaction: it finds the key
// whose token hashes to h, revokes it when it is still usable at now, and
// records the events built by events (told whether the key was revoked now).
// It returns the key as it is afterwards, or ErrNotFound.
//
// A predecessor still in its rotation grace is revoked with it (pred),
// recorded with a copy of the last event.
func (s *Store) RevokeLeaked(ctx context.Context, h []byte, now time.Time, events func(k *KeyRecord, revokedNow bool) []*Event) (out, pred *KeyRecord, revoked bool, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		k, err := scanKey(tx.QueryRow(`SELECT `+keyCols+` FROM api_keys WHERE token_hash = ?`, h))
		if err != nil {
			return err
		}
		revoked = k.Usable(now)
		if revoked {
			if _, err := tx.Exec(`UPDATE api_keys SET revoked_at = ?, updated_at = ? WHERE seq = ?`, unix(now), unix(now), k.Seq); err != nil {
				return err
			}
			t := now.UTC().Truncate(time.Second)
			k.RevokedAt, k.UpdatedAt = &t, t
		}
		evs := events(k, revoked)
		for _, ev := range evs {
			if err := insertEvent(tx, ev); err != nil {
				return err
			}
		}
		out = k
		if revoked && len(evs) > 0 {
			// as for any revocation, the predecessor's grace ends with it
			p, err := endPredecessorGrace(tx, k, now, evs[len(evs)-1])
			if err != nil {
				return err
			}
			pred = p
		}
		return nil
	})
	return out, pred, revoked, err
}
