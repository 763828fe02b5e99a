package servercmd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestServerSecret: created once (0600), the same at every later start; a
// damaged file is an error, never silently replaced (that would lose every
// sealed upstream token).
func TestServerSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite.secret")
	first, err := serverSecret(path)
	if err != nil || len(first) != 32 {
		t.Fatalf("first start: %x %v", first, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	again, err := serverSecret(path)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("second start: %x %v, want %x", again, err, first)
	}
	os.WriteFile(path, []byte("not hex\n"), 0o600)
	if _, err := serverSecret(path); err == nil {
		t.Fatal("a damaged secret was accepted")
	}
	if b, _ := os.ReadFile(path); string(b) != "not hex\n" {
		t.Fatal("a damaged secret was replaced")
	}
}
