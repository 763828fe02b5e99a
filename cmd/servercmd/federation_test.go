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

// TestServerFileFlagsOverride: values of the --server-config file apply
// where no flag is given; a given flag wins.
func TestServerFileFlagsOverride(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(path, []byte("disable_local_login: true\ntrusted_issuers: [https://gitlab.example.com]\noidc_audience: from-file\nidentity_providers: []\n"), 0o600)
	o := &Options{ServerConfig: path, OIDCAudience: "from-flag", TrustedIssuers: []string{"https://default.example"},
		flagSet: func(name string) bool { return name == "oidc-audience" }}
	if err := o.applyServerFile(); err != nil {
		t.Fatal(err)
	}
	if !o.NoLocalLogin || len(o.TrustedIssuers) != 1 || o.TrustedIssuers[0] != "https://gitlab.example.com" || o.OIDCAudience != "from-flag" {
		t.Fatalf("options %+v", o)
	}
	os.WriteFile(path, []byte("disable_local_login: [1, 2]\n"), 0o600)
	if err := (&Options{ServerConfig: path}).applyServerFile(); err == nil {
		t.Fatal("a malformed value was accepted")
	}
}
