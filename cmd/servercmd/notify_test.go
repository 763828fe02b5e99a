package servercmd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestServerSecret: created once with mode 0600, read back the same; a
// damaged file is an error, never a silently new secret (which would make
// every stored webhook secret unreadable).
func TestServerSecret(t *testing.T) {
	p := filepath.Join(t.TempDir(), "db.sqlite.secret")
	a, err := loadServerSecret(p)
	if err != nil || len(a) != 32 {
		t.Fatalf("%x %v", a, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	b, err := loadServerSecret(p)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("read back %x, want %x (%v)", b, a, err)
	}
	if err := os.WriteFile(p, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadServerSecret(p); err == nil {
		t.Fatal("a damaged secret file was accepted")
	}
}
