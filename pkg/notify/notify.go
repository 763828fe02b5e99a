// Package notify decides which key-expiry notices are due. It is pure: the
// caller passes the keys and the current time (an injected clock), and gets
// back the (key, threshold) pairs to enqueue. Sending is elsewhere (pkg/mail,
// pkg/webhook); "never twice" is enforced by the job queue (pkg/jobs), whose
// expiry-notice jobs are unique per (key, threshold).
package notify

import (
	"fmt"
	"sort"
	"time"
)

// Threshold names one of the three notices a key gets.
type Threshold string

const (
	// Before14d is sent 14 days before expiry.
	Before14d Threshold = "14d"
	// Before3d is sent 3 days before expiry.
	Before3d Threshold = "3d"
	// Expired is sent at expiry.
	Expired Threshold = "0d"
)

// Thresholds returns the notices from the earliest to the latest.
func Thresholds() []Threshold { return []Threshold{Before14d, Before3d, Expired} }

// Lead is how long before expiry the notice is due.
func (t Threshold) Lead() time.Duration {
	switch t {
	case Before14d:
		return 14 * 24 * time.Hour
	case Before3d:
		return 3 * 24 * time.Hour
	default:
		return 0
	}
}

// Valid reports whether t is one of the three thresholds.
func (t Threshold) Valid() bool {
	return t == Before14d || t == Before3d || t == Expired
}

// ParseThreshold accepts "14d", "3d" or "0d".
func ParseThreshold(s string) (Threshold, error) {
	t := Threshold(s)
	if !t.Valid() {
		return "", fmt.Errorf("unknown notice threshold %q (want 14d, 3d or 0d)", s)
	}
	return t, nil
}

// Status of a key, as the server stores it.
const (
	StatusActive  = "active"
	StatusRotated = "rotated"
	StatusRevoked = "revoked"
)

// Key is what the scheduler needs to know about an API key.
type Key struct {
	ID        string
	Owner     string
	ExpiresAt time.Time // zero: never expires
	Status    string    // StatusActive, StatusRotated, StatusRevoked
}

// Notice is one due notice.
type Notice struct {
	KeyID     string
	Owner     string
	Threshold Threshold
	ExpiresAt time.Time
}

// ExpiredWindow is how long after expiry the "expired" notice is still sent:
// a server that was down at the moment of expiry still sends it when it comes
// back, but keys that expired long before notices existed are not mailed.
const ExpiredWindow = 7 * 24 * time.Hour

// Due returns the notices due at now, sorted by key id. For each active key
// with an expiry, it is the latest threshold already crossed; earlier
// thresholds that were missed (a key created 2 days before expiry, a server
// that was down) are superseded, not sent late. Rotated and revoked keys, keys
// without expiry, and keys that expired more than ExpiredWindow ago get none.
// Calling Due again returns the same notices: the queue deduplicates them.
func Due(keys []Key, now time.Time) []Notice {
	var out []Notice
	for _, k := range keys {
		if k.Status != StatusActive || k.ExpiresAt.IsZero() {
			continue
		}
		if now.Sub(k.ExpiresAt) >= ExpiredWindow {
			continue
		}
		var due Threshold
		for _, t := range Thresholds() {
			if !now.Before(k.ExpiresAt.Add(-t.Lead())) {
				due = t
			}
		}
		if due == "" {
			continue
		}
		out = append(out, Notice{KeyID: k.ID, Owner: k.Owner, Threshold: due, ExpiresAt: k.ExpiresAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyID < out[j].KeyID })
	return out
}

// NextCheck returns the earliest time after now at which Due could return a
// notice it does not return at now (a threshold crossing), or the zero time
// when no key will ever need one. A scheduler may sleep until then (bounded by
// a periodic re-scan, since keys change).
func NextCheck(keys []Key, now time.Time) time.Time {
	var next time.Time
	for _, k := range keys {
		if k.Status != StatusActive || k.ExpiresAt.IsZero() {
			continue
		}
		for _, t := range Thresholds() {
			at := k.ExpiresAt.Add(-t.Lead())
			if at.After(now) && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return next
}
