// Package factory wires the default dependencies of the CLI into a
// cmdutil.Factory: the process's streams and environment, the config file,
// the credential store and the API client.
package factory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/config"
	"github.com/codesync/codesync-cli/pkg/credstore"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/output"
)

// New returns the Factory of a real invocation.
func New(ctx context.Context, version string, ios *iostreams.IOStreams, getenv func(string) string) *cmdutil.Factory {
	f := &cmdutil.Factory{
		IOStreams: ios,
		Version:   version,
		Getenv:    getenv,
		Now:       time.Now,
		Flags:     &cmdutil.GlobalFlags{},
		Context:   ctx,
	}
	f.Config = sync.OnceValues(func() (*config.Effective, error) {
		path, err := config.FindPath(f.Flags.Config, getenv)
		if err != nil {
			return nil, err
		}
		file, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		eff, err := config.Resolve(file, config.Flags{
			Server: f.Flags.Server, Profile: f.Flags.Profile, Output: f.Flags.Output,
			Timeout: f.Flags.Timeout, ClientCert: f.Flags.ClientCert, ClientKey: f.Flags.ClientKey, CACert: f.Flags.CACert,
		}, getenv)
		if err != nil {
			return nil, cmdutil.UsageErrorf("%s", err)
		}
		return eff, nil
	})
	f.Store = func(kind string) (credstore.Store, error) { return NewStore(f, kind) }
	transport := sync.OnceValues(func() (http.RoundTripper, error) { return newTransport(f) })
	f.Credentials = sync.OnceValues(func() (*auth.Resolver, error) {
		cfg, err := f.Config()
		if err != nil {
			return nil, err
		}
		r := &auth.Resolver{
			EnvToken: getenv("CODESYNC_AUTH_TOKEN"),
			Account:  auth.Account(cfg.ProfileName(), cfg.Server()),
			LockPath: filepath.Join(cfg.File.Dir(), cfg.ProfileName()+".lock"),
			Now:      f.Now,
		}
		r.UseCI(auth.DetectCI(getenv), func(ctx context.Context, ci *auth.CIIdentity) (*auth.ExchangedToken, error) {
			return ExchangeCI(ctx, f, ci)
		})
		r.Store = sync.OnceValues(func() (credstore.Store, error) { return f.Store(cfg.Storage()) })
		r.Refresher = func(ctx context.Context, s *auth.Session) (*auth.Session, error) {
			c, err := f.AnonymousClient()
			if err != nil {
				return nil, err
			}
			return auth.Refresh(ctx, c, cfg.OAuthIssuer(), s)
		}
		return r, nil
	})
	newClient := func(withToken bool) (*api.Client, error) {
		cfg, err := f.Config()
		if err != nil {
			return nil, err
		}
		rt, err := transport()
		if err != nil {
			return nil, err
		}
		timeout, _ := cfg.Timeout()
		o := api.Options{
			BaseURL:    cfg.Server(),
			HTTPClient: &http.Client{Transport: rt},
			UserAgent:  "codesync-cli/" + version,
			Timeout:    timeout,
		}
		if f.Flags.Debug {
			o.Debug = ios.ErrOut
		}
		// CODESYNC_DEBUG_LOG appends the same redacted trace to a file (0600),
		// without touching stderr: used to run the test suite traced
		if p := getenv("CODESYNC_DEBUG_LOG"); p != "" {
			if lf, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
				if o.Debug != nil {
					o.Debug = io.MultiWriter(o.Debug, lf)
				} else {
					o.Debug = lf
				}
			}
		}
		if withToken {
			res, err := f.Credentials()
			if err != nil {
				return nil, err
			}
			o.Token = res.Token
			o.Reauth = res.Reauth
			warned := false
			o.OnCredentialExpiry = func(e api.CredentialExpiry) {
				left := e.ExpiresAt.Sub(f.Now())
				if warned || left > 14*24*time.Hour || left <= 0 {
					return
				}
				warned = true
				which, id := e.Prefix+"…", "ID"
				if e.ID != "" {
					which, id = fmt.Sprintf("%s (%s, %s…)", e.ID, e.Name, e.Prefix), e.ID
				}
				fmt.Fprintf(ios.ErrOut, "warning: the key %s expires %s; rotate it with 'codesync-cli key rotate %s'\n", which, output.RelativeTime(f.Now(), e.ExpiresAt), id)
			}
		}
		c, err := api.New(o)
		if err != nil {
			return nil, cmdutil.UsageErrorf("%s", err)
		}
		return c, nil
	}
	f.APIClient = sync.OnceValues(func() (*api.Client, error) { return newClient(true) })
	f.AnonymousClient = sync.OnceValues(func() (*api.Client, error) { return newClient(false) })
	return f
}

// ExchangeCI exchanges the CI identity ci at the server's token endpoint
// (trusted publishing): the ID token is asked for (GitHub) with the audience
// CODESYNC_OIDC_AUDIENCE (default codesync) and sent only to the token
// endpoint the server's metadata names, on the server's origin.
func ExchangeCI(ctx context.Context, f *cmdutil.Factory, ci *auth.CIIdentity) (*auth.ExchangedToken, error) {
	c, err := f.AnonymousClient()
	if err != nil {
		return nil, err
	}
	md, err := auth.Discover(ctx, c)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(md.GrantTypesSupported, auth.GrantTypeTokenExchange) {
		return nil, &auth.CIError{Msg: "this server does not offer trusted publishing (no token-exchange grant in its metadata): set CODESYNC_AUTH_TOKEN instead"}
	}
	// the CI provider is not the CodeSync server: no client certificate,
	// no CodeSync origin rule, its own timeout
	id, err := ci.IDToken(ctx, &http.Client{Timeout: 30 * time.Second}, f.Getenv(auth.EnvOIDCAudience))
	if err != nil {
		return nil, err
	}
	t, err := auth.ExchangeIDToken(ctx, c.OAuthHTTP(), md.TokenEndpoint, id)
	if err != nil {
		return nil, err
	}
	t.Provider = ci.Provider
	return t, nil
}

// NewStore opens the credential store of the given kind ("keyring" or "file").
func NewStore(f *cmdutil.Factory, kind string) (credstore.Store, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	if kind == "file" {
		return &credstore.File{Path: filepath.Join(cfg.File.Dir(), "credentials.json")}, nil
	}
	timeout := 3 * time.Second
	if f.IOStreams.IsStdinTTY() {
		timeout = 30 * time.Second
	}
	if v := f.Getenv("CODESYNC_KEYRING_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, cmdutil.UsageErrorf("invalid CODESYNC_KEYRING_TIMEOUT %q: use a Go duration such as 5s", v)
		}
		timeout = d
	}
	return &credstore.Keyring{Timeout: timeout, Getenv: f.Getenv}, nil
}

// newTransport applies --client-cert/--client-key/--ca-cert.
func newTransport(f *cmdutil.Factory) (http.RoundTripper, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	certFile, keyFile, caFile := cfg.ClientCert(), cfg.ClientKey(), cfg.CACert()
	if certFile == "" && keyFile == "" && caFile == "" {
		return t, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if (certFile == "") != (keyFile == "") {
		return nil, cmdutil.UsageErrorf("--client-cert and --client-key go together: give both")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, cmdutil.UsageErrorf("cannot use client certificate %s with key %s: %s", certFile, keyFile, tlsLoadReason(err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, cmdutil.UsageErrorf("cannot read --ca-cert %s: %s", caFile, errReason(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cmdutil.UsageErrorf("--ca-cert %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	t.TLSClientConfig = tc
	return t, nil
}

func tlsLoadReason(err error) string {
	if os.IsNotExist(err) || os.IsPermission(err) {
		return errReason(err)
	}
	return "the certificate and key do not match or are not PEM (" + err.Error() + ")"
}

func errReason(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
