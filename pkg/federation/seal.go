package federation

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
)

// sealPrefix marks the format (and key derivation) version of a sealed token.
const sealPrefix = "v1."

// hkdfInfo separates this key from any other key derived from the same
// server secret.
const hkdfInfo = "codesync federation: upstream refresh tokens v1"

// ErrUnseal is returned when a sealed token cannot be opened: wrong server
// secret, a different (provider, subject), or altered data.
var ErrUnseal = errors.New("federation: stored upstream token cannot be opened")

// TokenSealer encrypts upstream refresh tokens for storage: AES-256-GCM with
// a key derived by HKDF-SHA256 from the server secret, and the (provider,
// subject) the token belongs to as associated data, so a sealed token
// copied onto another identity does not open.
type TokenSealer struct {
	aead cipher.AEAD
}

// NewTokenSealer derives the sealing key from serverSecret (at least 32
// bytes of high-entropy secret the server keeps, e.g. in its data
// directory). A different secret cannot open tokens sealed before.
func NewTokenSealer(serverSecret []byte) (*TokenSealer, error) {
	if len(serverSecret) < 32 {
		return nil, errors.New("federation: the server secret must be at least 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, serverSecret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &TokenSealer{aead: aead}, nil
}

// associatedData encodes (provider, subject) unambiguously: length-prefixed.
func associatedData(provider, subject string) []byte {
	b := make([]byte, 0, 8+len(provider)+len(subject))
	b = binary.BigEndian.AppendUint32(b, uint32(len(provider)))
	b = append(b, provider...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(subject)))
	b = append(b, subject...)
	return b
}

// Seal encrypts token for the identity (provider, subject). The result is
// text ("v1." + base64url) for a TEXT column.
func (s *TokenSealer) Seal(provider, subject, token string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(token), associatedData(provider, subject))
	return sealPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a token sealed for (provider, subject). It returns ErrUnseal
// when the secret, the identity or the data differ.
func (s *TokenSealer) Open(provider, subject, sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return "", ErrUnseal
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return "", ErrUnseal
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, raw[:n], raw[n:], associatedData(provider, subject))
	if err != nil {
		return "", ErrUnseal
	}
	return string(pt), nil
}
