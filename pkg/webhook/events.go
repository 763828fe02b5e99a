package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event types an endpoint can subscribe to.
const (
	EventKeyExpiring          = "key.expiring"
	EventKeyCreated           = "key.created"
	EventKeyRotated           = "key.rotated"
	EventKeyRevoked           = "key.revoked"
	EventScopeEscalated       = "scope:escalated"
	EventLoginFailedThreshold = "login:failed-threshold"
	EventTokenLeaked          = "token:leaked"
)

// Events returns every event type, in documentation order.
func Events() []string {
	return []string{EventKeyExpiring, EventKeyCreated, EventKeyRotated, EventKeyRevoked,
		EventScopeEscalated, EventLoginFailedThreshold, EventTokenLeaked}
}

// ParseEvents parses a --events value ("key.expiring,key.revoked"): known
// types, no duplicates, sorted as in Events. Empty means every event.
func ParseEvents(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return Events(), nil
	}
	seen := map[string]bool{}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if !slices.Contains(Events(), e) {
			return nil, fmt.Errorf("unknown event %q (known: %s)", e, strings.Join(Events(), ", "))
		}
		seen[e] = true
	}
	var out []string
	for _, e := range Events() {
		if seen[e] {
			out = append(out, e)
		}
	}
	return out, nil
}

// Payload is the body of every webhook message, the shape the Standard
// Webhooks specification recommends: {"type","timestamp","data"}.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// NewPayload encodes a message body for event at time at (UTC, RFC 3339).
func NewPayload(event string, at time.Time, data any) ([]byte, error) {
	if !slices.Contains(Events(), event) {
		return nil, fmt.Errorf("webhook: unknown event %q", event)
	}
	return json.Marshal(Payload{Type: event, Timestamp: at.UTC(), Data: data})
}
