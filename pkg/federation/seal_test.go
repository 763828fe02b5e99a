package federation

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestTokenSealer(t *testing.T) {
	secret := bytes.Repeat([]byte("k"), 32)
	s, err := NewTokenSealer(secret)
	if err != nil {
		t.Fatal(err)
	}
	const rt = "upstream-refresh-token-value"
	sealed, err := s.Seal("acme-sso", "user-1", rt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1.") || strings.Contains(sealed, rt) {
		t.Fatalf("sealed %q", sealed)
	}
	if got, err := s.Open("acme-sso", "user-1", sealed); err != nil || got != rt {
		t.Fatalf("open: %q %v", got, err)
	}
	again, _ := s.Seal("acme-sso", "user-1", rt)
	if again == sealed {
		t.Fatal("two seals of the same token are equal: the nonce is not random")
	}

	// The same server secret in another process opens it.
	s2, _ := NewTokenSealer(bytes.Clone(secret))
	if got, err := s2.Open("acme-sso", "user-1", sealed); err != nil || got != rt {
		t.Fatalf("open with the same secret: %q %v", got, err)
	}

	other, _ := NewTokenSealer(bytes.Repeat([]byte("x"), 32))
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "v1."))
	raw[len(raw)-1] ^= 1
	tampered := "v1." + base64.RawURLEncoding.EncodeToString(raw)
	for name, open := range map[string]func() (string, error){
		"another subject":  func() (string, error) { return s.Open("acme-sso", "user-2", sealed) },
		"another provider": func() (string, error) { return s.Open("github", "user-1", sealed) },
		"ambiguous concatenation": func() (string, error) {
			x, _ := s.Seal("ab", "c", rt)
			return s.Open("a", "bc", x)
		},
		"another server secret": func() (string, error) { return other.Open("acme-sso", "user-1", sealed) },
		"altered":               func() (string, error) { return s.Open("acme-sso", "user-1", tampered) },
		"no version":            func() (string, error) { return s.Open("acme-sso", "user-1", strings.TrimPrefix(sealed, "v1.")) },
		"not base64":            func() (string, error) { return s.Open("acme-sso", "user-1", "v1.!!!") },
		"too short":             func() (string, error) { return s.Open("acme-sso", "user-1", "v1.AAAA") },
		"plaintext in the db":   func() (string, error) { return s.Open("acme-sso", "user-1", rt) },
	} {
		if got, err := open(); !errors.Is(err, ErrUnseal) || got != "" {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}

	if _, err := NewTokenSealer([]byte("short")); err == nil {
		t.Fatal("a short server secret is accepted")
	}
}
