// Package token makes and checks API key tokens: csy_prod_ or csy_dev_, 30
// random base62 characters, and a 6-character base62 CRC-32 of the random part,
// so secret scanners can recognise a key offline.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
)

// Alphabet is base62 in ASCII order.
const Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

const (
	PrefixProd  = "csy_prod_"
	PrefixDev   = "csy_dev_"
	randomLen   = 30
	checksumLen = 6
	// PrefixLen is how much of a token may be shown (the key object's "prefix").
	PrefixLen = 12
)

// ErrMalformed: not a well-formed token or a wrong checksum.
var ErrMalformed = errors.New("malformed token")

// RandomString returns n random base62 characters (crypto/rand, no modulo bias).
func RandomString(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(Alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error()) // the OS has no randomness: nothing safe to do
		}
		b[i] = Alphabet[v.Int64()]
	}
	return string(b)
}

// Checksum is the base62 CRC-32 (IEEE) of s, 6 characters, zero-padded.
func Checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	out := []byte("000000")
	for i := checksumLen - 1; i >= 0 && v > 0; i-- {
		out[i] = Alphabet[v%62]
		v /= 62
	}
	return string(out)
}

// New returns a fresh token for env "prod" or "dev".
func New(env string) string {
	p := PrefixProd
	if env == "dev" {
		p = PrefixDev
	}
	r := RandomString(randomLen)
	return p + r + Checksum(r)
}

// Parse checks the format and checksum; it returns the environment ("prod" or
// "dev").
func Parse(t string) (env string, err error) {
	env, ok := Valid(t)
	if !ok {
		return "", ErrMalformed
	}
	return env, nil
}

// Valid is Parse for a string or a byte slice, without allocating: secret
// scanners call it for every candidate they meet.
func Valid[T ~string | ~[]byte](t T) (env string, ok bool) {
	var p int
	switch {
	case hasPrefix(t, PrefixProd):
		env, p = "prod", len(PrefixProd)
	case hasPrefix(t, PrefixDev):
		env, p = "dev", len(PrefixDev)
	default:
		return "", false
	}
	if len(t)-p != randomLen+checksumLen {
		return "", false
	}
	crc := ^uint32(0)
	for i := p; i < len(t); i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return "", false
		}
		if i < p+randomLen {
			crc = crc32.IEEETable[byte(crc)^c] ^ (crc >> 8)
		}
	}
	v := ^crc
	for i := len(t) - 1; i >= p+randomLen; i-- {
		if t[i] != Alphabet[v%62] {
			return "", false
		}
		v /= 62
	}
	return env, v == 0
}

func hasPrefix[T ~string | ~[]byte](t T, prefix string) bool {
	if len(t) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if t[i] != prefix[i] {
			return false
		}
	}
	return true
}

// Looks reports whether s has an API key's prefix (well-formed or not).
func Looks(s string) bool {
	return strings.HasPrefix(s, PrefixProd) || strings.HasPrefix(s, PrefixDev)
}

// Hash is the SHA-256 the server stores instead of the token.
func Hash(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// Prefix is the displayable start of a token.
func Prefix(t string) string {
	if len(t) < PrefixLen {
		return t
	}
	return t[:PrefixLen]
}
