package cmdutil

import (
	"context"
	"time"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/config"
	"github.com/codesync/codesync-cli/pkg/credstore"
	"github.com/codesync/codesync-cli/pkg/iostreams"
)

// GlobalFlags are the root command's persistent flags.
type GlobalFlags struct {
	Server, Profile, Output, Config, Timeout string
	JQ                                       string
	ClientCert, ClientKey, CACert            string
	NoColor, Debug                           bool
}

// Factory hands every command its dependencies. Each func is lazy: a command
// that never talks to the server never builds a client or opens the keyring.
type Factory struct {
	IOStreams *iostreams.IOStreams
	Version   string
	Getenv    func(string) string
	Now       func() time.Time
	Flags     *GlobalFlags
	Context   context.Context

	Config func() (*config.Effective, error)
	// Credentials resolves which credential to use (env, keyring, file).
	Credentials func() (*auth.Resolver, error)
	// Store opens the credential store of a kind ("keyring" or "file").
	Store func(kind string) (credstore.Store, error)
	// APIClient is a client with the resolved credential attached.
	APIClient func() (*api.Client, error)
	// AnonymousClient sends no credential (health, OAuth endpoints).
	AnonymousClient func() (*api.Client, error)
}
