package credstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg")
	s := &File{Path: filepath.Join(dir, "credentials.json")}
	if _, err := s.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	// concurrent writers lose nothing (lock + atomic replace)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := s.Set(string(rune('a'+i)), "secret"); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < 20; i++ {
		if v, err := s.Get(string(rune('a' + i))); err != nil || v != "secret" {
			t.Fatalf("account %d: %q %v", i, v, err)
		}
	}
	fi, _ := os.Stat(s.Path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", di.Mode())
	}
	if err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("a"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestKeyringWithoutSessionBus(t *testing.T) {
	k := &Keyring{Timeout: time.Second, Getenv: func(string) string { return "" }}
	start := time.Now()
	_, err := k.Get("x")
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("want UnavailableError, got %v", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("should fail at once without a bus")
	}
}

// TestKeyringTimeout: a keyring that never answers ends within the bound.
func TestKeyringTimeout(t *testing.T) {
	k := &Keyring{Timeout: 100 * time.Millisecond, Getenv: func(string) string { return "unix:path=/nonexistent" }}
	start := time.Now()
	err := k.call(func() error { select {} })
	var ue *UnavailableError
	if !errors.As(err, &ue) || time.Since(start) > time.Second {
		t.Fatalf("want timeout UnavailableError quickly, got %v after %s", err, time.Since(start))
	}
}

// TestKeyringSecretService runs against a real Secret Service started by
// scripts/with-keyring.sh (make keyring-test).
func TestKeyringSecretService(t *testing.T) {
	if os.Getenv("CODESYNC_TEST_KEYRING") != "1" {
		t.Skip("no real Secret Service: run under scripts/with-keyring.sh (make keyring-test)")
	}
	k := &Keyring{Timeout: 5 * time.Second, Getenv: os.Getenv}
	acct := "test@127.0.0.1:1"
	if err := k.Set(acct, `{"access_token":"x"}`); err != nil {
		t.Fatal(err)
	}
	if v, err := k.Get(acct); err != nil || v != `{"access_token":"x"}` {
		t.Fatalf("%q %v", v, err)
	}
	if err := k.Delete(acct); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(acct); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// TestKeyringWindowsSizeLimit: on Windows a session over the Credential
// Manager's 2560 bytes is refused before the call, with the remedy, instead of
// go-keyring's bare "data passed to Set was too big". The check comes first,
// so it needs no keyring: the Getenv here would make any real call fail
// differently.
func TestKeyringWindowsSizeLimit(t *testing.T) {
	k := &Keyring{Timeout: time.Second, Getenv: func(string) string { return "" }, goos: "windows"}
	err := k.Set("a", strings.Repeat("x", WindowsSecretLimit+1))
	var ue *UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(ue.Error(), "2561 bytes") || !strings.Contains(ue.Hint(), "--insecure-storage") {
		t.Fatalf("want a size refusal with a hint, got %v", err)
	}
}
