// Package webhook signs and delivers webhook messages per the Standard
// Webhooks specification (https://www.standardwebhooks.com): headers
// webhook-id, webhook-timestamp and webhook-signature ("v1," + base64
// HMAC-SHA256 of "id.timestamp.body" keyed with the secret's bytes, the
// secret written "whsec_" + base64). It also holds the retry schedule and an
// HTTP client that refuses to reach private addresses (SSRF).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// secretBytes is the size of a generated secret (the specification asks for
// 24 to 64 bytes).
const secretBytes = 32

// ErrBadSecret is returned for a secret that is not "whsec_" + base64.
var ErrBadSecret = errors.New("webhook: signing secret is not whsec_ followed by base64")

// NewSecret returns a fresh signing secret, "whsec_" + base64 of 32 random
// bytes. Show it once; store it (the server needs it to sign).
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// NewMessageID returns a fresh webhook-id ("msg_" + 128 random bits). A
// message keeps its id across retries and redeliveries so that receivers can
// drop duplicates.
func NewMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "msg_" + base64.RawURLEncoding.EncodeToString(b)
}

func secretKey(secret string) ([]byte, error) {
	s, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}

func sign(key []byte, msgID string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64>" per secret, space-separated. Pass two secrets while a secret
// is being rotated so that receivers holding either one can verify.
func Sign(msgID string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", ErrBadSecret
	}
	if msgID == "" || strings.ContainsAny(msgID, ". \r\n") {
		return "", fmt.Errorf("webhook: message id %q is empty or has a dot or space", msgID)
	}
	parts := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		parts = append(parts, "v1,"+sign(key, msgID, ts.Unix(), body))
	}
	return strings.Join(parts, " "), nil
}

// SetHeaders signs body and sets the three Standard Webhooks headers on h.
func SetHeaders(h http.Header, msgID string, ts time.Time, body []byte, secrets ...string) error {
	sig, err := Sign(msgID, ts, body, secrets...)
	if err != nil {
		return err
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Tolerance is how far webhook-timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// Verification errors.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp outside the tolerance")
	ErrSignature      = errors.New("webhook: no matching signature")
)

// Verify checks a received message the way a receiver does: the timestamp
// within Tolerance of now, and one of the "v1," signatures matching secret.
// The server uses it in tests and for `webhook` self-checks; receivers use any
// Standard Webhooks library.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsStr, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsStr == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return ErrTimestamp
	}
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	want := []byte(sign(key, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if ok && v == "v1" && subtle.ConstantTimeCompare([]byte(sig), want) == 1 {
			return nil
		}
	}
	return ErrSignature
}
