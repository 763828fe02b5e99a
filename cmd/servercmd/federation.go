package servercmd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/federation"
	"github.com/codesync/codesync-cli/pkg/server"
)

// loadFederation reads the identity providers and mapping rules of the
// server configuration file and the server secret that seals upstream
// refresh tokens.
func loadFederation(path, dbPath, base string) (*server.Federation, error) {
	cfg, err := federation.LoadFile(path)
	if err != nil {
		return nil, cmdutil.UsageErrorf("--server-config: %s", err)
	}
	providers, err := federation.NewProviders(cfg, federation.Options{ServerURL: base})
	if err != nil {
		return nil, cmdutil.UsageErrorf("--server-config: %s", err)
	}
	secret, err := serverSecret(dbPath + ".secret")
	if err != nil {
		return nil, err
	}
	sealer, err := federation.NewTokenSealer(secret)
	if err != nil {
		return nil, err
	}
	return &server.Federation{Config: cfg, Providers: providers, Sealer: sealer}, nil
}

// serverSecret reads the server secret kept next to the database (DB.secret,
// 32 random bytes in hex, mode 0600), creating it on first start. It is not
// in the database, so a copy of the database alone does not open the sealed
// upstream refresh tokens or webhook signing secrets; lost, those tokens
// cannot be opened (the people concerned sign in again) and webhook secrets
// must be rotated.
func serverSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, cerr := createSecret(path)
		if cerr == nil {
			return raw, nil
		}
		if !errors.Is(cerr, fs.ErrExist) {
			return nil, fmt.Errorf("creating the server secret %s: %w", path, cerr)
		}
		b, err = os.ReadFile(path) // another process created it meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("reading the server secret %s: %w", path, err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) < 32 {
		return nil, fmt.Errorf("the server secret %s is damaged: it must hold 64 hex digits", path)
	}
	return raw, nil
}

// createSecret writes a new random secret to path, which must not exist.
func createSecret(path string) ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(hex.EncodeToString(raw) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return raw, nil
}

// serverFile is the part of the --server-config file that has flags:
// values here apply unless the flag is given (flags override the file).
// identity_providers and mappings are read by pkg/federation; other keys
// belong to other parts of the server.
type serverFile struct {
	DisableLocalLogin *bool    `yaml:"disable_local_login"`
	TrustedIssuers    []string `yaml:"trusted_issuers"`
	OIDCAudience      *string  `yaml:"oidc_audience"`
}

// applyServerFile fills the options from the --server-config file where
// the corresponding flag was not given.
func (o *Options) applyServerFile() error {
	if o.ServerConfig == "" {
		return nil
	}
	b, err := os.ReadFile(o.ServerConfig)
	if err != nil {
		return cmdutil.UsageErrorf("--server-config: %s", err)
	}
	var f serverFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return cmdutil.UsageErrorf("--server-config %s: %s", o.ServerConfig, oneLine(err.Error()))
	}
	given := o.flagSet
	if given == nil {
		given = func(string) bool { return false }
	}
	if f.DisableLocalLogin != nil && !given("disable-local-login") {
		o.NoLocalLogin = *f.DisableLocalLogin
	}
	if f.TrustedIssuers != nil && !given("trusted-issuers") {
		o.TrustedIssuers = f.TrustedIssuers
	}
	if f.OIDCAudience != nil && !given("oidc-audience") {
		o.OIDCAudience = *f.OIDCAudience
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
