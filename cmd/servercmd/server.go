// Package servercmd is `codesync-cli server` and its user administration.
package servercmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// Options of `server`.
type Options struct {
	F            *cmdutil.Factory
	Addr         string
	DB           string
	Dev          bool
	Environment  string
	TLSCert      string
	TLSKey       string
	ClientCA     string
	ProdRate     string
	DevRate      string
	AnonRate     string
	AccessTTL    time.Duration
	RefreshTTL   time.Duration
	FailedLogins int
	DeviceEvery  time.Duration
	ScanningKeys string // --secret-scanning-keys
	ServerConfig string // --server-config
	NoLocalLogin bool   // --disable-local-login
	// flagSet reports which flags were given (they override --server-config)
	flagSet func(name string) bool
	// trusted publishing
	OIDCAudience   string   // --oidc-audience
	TrustedIssuers []string // --trusted-issuers
	// notices and webhooks
	SMTPURL             string
	SMTPFrom            string
	WebhookAllowPrivate bool
}

func NewCmdServer(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the reference CodeSync server (SQLite, real OAuth, real rate limits)",
		Long: `Run the reference CodeSync server: the CodeSync API on SQLite, for development,
tests and team sandboxes.

With --dev it keeps its database in a temporary file removed at shutdown (unless
--db is given), creates the user dev with a random password and a first csy_dev_
key, and prints four lines for eval:

  export CODESYNC_SERVER=http://HOST:PORT
  export CODESYNC_DEV_USER=dev
  export CODESYNC_DEV_PASSWORD=…
  export CODESYNC_AUTH_TOKEN=csy_dev_…

Expiry notices (14 days, 3 days before and at expiry) go by e-mail to key
owners with an address ('server user set NAME --email ADDRESS') when
--smtp-url is given, and to webhooks (key.expiring). Webhook signing secrets
are sealed with the server secret kept next to the database (DB.secret).`,
		Example: `  $ codesync-cli server --dev --addr 127.0.0.1:0
  $ codesync-cli server --db /var/lib/codesync/db.sqlite --addr 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem
  $ CODESYNC_SMTP_PASSWORD=… codesync-cli server --db db.sqlite --smtp-url smtp://codesync@mail.example.com:587 --smtp-from codesync@example.com`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.flagSet = cmd.Flags().Changed
			// a dev server is a sandbox (it mints csy_dev_ keys) unless told otherwise
			switch env, ok := model.ParseEnvironment(opts.Environment); {
			case opts.Environment == "" && opts.Dev:
				opts.Environment = model.EnvSandbox
			case opts.Environment == "":
				opts.Environment = model.EnvProduction
			case !ok:
				return cmdutil.UsageErrorf("invalid --environment %q: use production or sandbox (prod, dev)", opts.Environment)
			default:
				opts.Environment = env
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Addr, "addr", "127.0.0.1:8787", "address to listen on (port 0 picks a free one)")
	cmd.PersistentFlags().StringVar(&opts.DB, "db", "", "SQLite database file (required unless --dev)")
	fl.BoolVar(&opts.Dev, "dev", false, "development mode: throwaway database, dev user and first key")
	fl.StringVar(&opts.Environment, "environment", "", "production or sandbox (prod, dev); a sandbox refuses csy_prod_ keys (default: sandbox with --dev, else production)")
	_ = cmd.RegisterFlagCompletionFunc("environment", cobra.FixedCompletions([]string{model.EnvProduction, model.EnvSandbox}, cobra.ShellCompDirectiveNoFileComp))
	fl.StringVar(&opts.TLSCert, "tls-cert", "", "TLS certificate (PEM)")
	fl.StringVar(&opts.TLSKey, "tls-key", "", "TLS private key (PEM)")
	fl.StringVar(&opts.ClientCA, "client-ca", "", "CA (PEM) whose client certificates are required (mutual TLS)")
	fl.StringVar(&opts.ProdRate, "rate-limit-prod", "50/s", "rate cap per production credential (burst twice the rate)")
	fl.StringVar(&opts.DevRate, "rate-limit-dev", "10/s", "rate cap per csy_dev_ key and on a sandbox server")
	fl.StringVar(&opts.AnonRate, "rate-limit-anon", "20/s", "rate cap per IP for calls without a valid credential")
	fl.DurationVar(&opts.AccessTTL, "access-token-ttl", 2*time.Hour, "OAuth access token lifetime")
	fl.DurationVar(&opts.RefreshTTL, "refresh-token-ttl", 720*time.Hour, "OAuth refresh token lifetime")
	fl.DurationVar(&opts.DeviceEvery, "device-interval", 5*time.Second, "device flow polling interval")
	fl.IntVar(&opts.FailedLogins, "failed-login-threshold", 50, "failed sign-ins an hour at which health reports degraded")
	fl.StringVar(&opts.ScanningKeys, "secret-scanning-keys", "", "PEM (or GitHub's JSON) public keys by identifier that may sign secret-scanning reports")
	fl.StringVar(&opts.ServerConfig, "server-config", "", "server configuration file (YAML): identity providers, mapping rules, disable_local_login, trusted_issuers, oidc_audience; flags override it (docs/federation.md)")
	fl.BoolVar(&opts.NoLocalLogin, "disable-local-login", false, "sign-in pages offer only the identity providers of --server-config, no password form")
	fl.StringVar(&opts.OIDCAudience, "oidc-audience", trustedpub.DefaultAudience, "the aud a CI job's ID token must carry to be exchanged (trusted publishing)")
	fl.StringSliceVar(&opts.TrustedIssuers, "trusted-issuers", trustedpub.DefaultTrustedIssuers, "ID token issuers (https URLs) whose CI jobs may exchange their identity (trusted publishing)")
	for _, name := range []string{"tls-cert", "tls-key", "client-ca", "secret-scanning-keys"} {
		_ = cmd.MarkFlagFilename(name)
	}
	_ = cmd.MarkPersistentFlagFilename("db")
	fl.StringVar(&opts.SMTPURL, "smtp-url", "", "send expiry notices through smtp://user@host:port (password in "+SMTPPasswordEnv+")")
	fl.StringVar(&opts.SMTPFrom, "smtp-from", "", "sender address of expiry notices")
	fl.BoolVar(&opts.WebhookAllowPrivate, "webhook-allow-private", false, "let webhooks reach private and link-local addresses (on-premises receivers, tests)")
	cmd.AddCommand(NewCmdUser(f, opts))
	return cmd
}

// ParseRate reads "50/s", "600/m", "1000/h" or a plain number per second.
func ParseRate(s string) (rate.Limit, error) {
	num, unit, found := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid rate %q: use N/s, N/m or N/h", s)
	}
	per := time.Second
	if found {
		switch unit {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return 0, fmt.Errorf("invalid rate %q: use N/s, N/m or N/h", s)
		}
	}
	return rate.Limit(n / per.Seconds()), nil
}

func (o *Options) config() (server.Config, error) {
	cfg := server.Config{Environment: o.Environment, AccessTokenTTL: o.AccessTTL, RefreshTokenTTL: o.RefreshTTL, FailedLoginThreshold: o.FailedLogins, DeviceInterval: o.DeviceEvery}
	if o.Environment != model.EnvProduction && o.Environment != model.EnvSandbox {
		return cfg, cmdutil.UsageErrorf("invalid --environment %q: use production or sandbox", o.Environment)
	}
	var err error
	for flag, dst := range map[string]*rate.Limit{o.ProdRate: &cfg.ProdRate, o.DevRate: &cfg.DevRate, o.AnonRate: &cfg.AnonRate} {
		if *dst, err = ParseRate(flag); err != nil {
			return cfg, cmdutil.UsageErrorf("%s", err)
		}
	}
	if o.AccessTTL <= 0 || o.RefreshTTL <= 0 || o.FailedLogins <= 0 {
		return cfg, cmdutil.UsageErrorf("token lifetimes and --failed-login-threshold must be positive")
	}
	if err := o.applyServerFile(); err != nil {
		return cfg, err
	}
	if o.NoLocalLogin && o.ServerConfig == "" {
		return cfg, cmdutil.UsageErrorf("--disable-local-login needs --server-config with at least one identity provider")
	}
	cfg.DisableLocalLogin = o.NoLocalLogin
	if o.ScanningKeys != "" {
		b, err := os.ReadFile(o.ScanningKeys)
		if err == nil {
			cfg.SecretScanningKeys, err = server.ParseScanningKeys(b)
		}
		if err != nil {
			return cfg, cmdutil.UsageErrorf("--secret-scanning-keys %s: %s", o.ScanningKeys, err)
		}
	}
	if strings.TrimSpace(o.OIDCAudience) == "" || strings.ContainsAny(o.OIDCAudience, " \t,") {
		return cfg, cmdutil.UsageErrorf("invalid --oidc-audience %q: use one word, such as codesync", o.OIDCAudience)
	}
	iss, err := trustedpub.ParseTrustedIssuers(o.TrustedIssuers)
	if err != nil {
		return cfg, cmdutil.UsageErrorf("--trusted-issuers: %s", err)
	}
	cfg.TrustedPublishing = server.TrustedPublishing{Audience: o.OIDCAudience, TrustedIssuers: iss, Disabled: len(iss) == 0}
	return cfg, nil
}

func (o *Options) tlsConfig() (*tls.Config, error) {
	if o.TLSCert == "" && o.TLSKey == "" {
		if o.ClientCA != "" {
			return nil, cmdutil.UsageErrorf("--client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	if o.TLSCert == "" || o.TLSKey == "" {
		return nil, cmdutil.UsageErrorf("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
	if err != nil {
		return nil, cmdutil.UsageErrorf("cannot load --tls-cert %s with --tls-key %s: %s", o.TLSCert, o.TLSKey, err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.ClientCA != "" {
		pem, err := os.ReadFile(o.ClientCA)
		if err != nil {
			return nil, cmdutil.UsageErrorf("cannot read --client-ca: %s", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cmdutil.UsageErrorf("--client-ca %s holds no PEM certificate", o.ClientCA)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

func run(ctx context.Context, o *Options) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return cmdutil.UsageErrorf("invalid --addr %q: use HOST:PORT", o.Addr)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	if tlsCfg == nil && !o.Dev && !api.SecureURL(mustURL("http://"+net.JoinHostPort(host, "1"))) {
		return cmdutil.UsageErrorf("refusing to listen on %s without TLS: give --tls-cert and --tls-key, or listen on 127.0.0.1", o.Addr)
	}
	dbPath := o.DB
	if dbPath == "" {
		if !o.Dev {
			return cmdutil.UsageErrorf("--db PATH is required (or --dev for a throwaway database)")
		}
		// SQLite's in-memory databases cannot be shared by concurrent
		// connections in WAL mode; a temporary file removed at shutdown
		// behaves the same for a throwaway server.
		dir, err := os.MkdirTemp("", "codesync-dev-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "dev.sqlite")
	}
	notices, err := o.notifications(dbPath)
	if err != nil {
		return err
	}
	cfg.Notifications = notices
	st, err := store.Open(dbPath)
	if err != nil {
		return err
	}
	// The store is closed (WAL checkpointed) before "server stopped" is
	// printed, so the line means the database is at rest; the deferred close
	// covers the early returns.
	storeClosed := false
	closeStore := func() error {
		if storeClosed {
			return nil
		}
		storeClosed = true
		return st.Close()
	}
	defer closeStore()

	level := slog.LevelInfo
	if o.F.Flags.Debug {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(o.F.IOStreams.ErrOut, &slog.HandlerOptions{Level: level}))
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return cmdutil.Errorf("cannot listen on %s: %s", o.Addr, err)
	}
	base := scheme + "://" + ln.Addr().String()
	cfg.Issuer = base
	if o.ServerConfig != "" {
		if cfg.Federation, err = loadFederation(o.ServerConfig, dbPath, base); err != nil {
			ln.Close()
			return err
		}
		if o.NoLocalLogin && len(cfg.Federation.Config.IdentityProviders) == 0 {
			ln.Close()
			return cmdutil.UsageErrorf("--disable-local-login: %s names no identity provider, nobody could sign in", o.ServerConfig)
		}
	}
	srv := server.New(cfg, st)
	ios := o.F.IOStreams
	fmt.Fprintf(ios.ErrOut, "CodeSync reference server (%s) listening on %s (%s, database %s)\n", versionLabel(o.F.Version), base, cfg.Environment, displayDB(o.DB))
	if o.Dev {
		pw, tok, err := srv.BootstrapDev(ctx)
		if err != nil {
			ln.Close()
			return err
		}
		fmt.Fprintf(ios.ErrOut, "Development mode: user %s, one csy_dev_ key. Not for production.\n", server.DevUser)
		fmt.Fprintf(ios.Out, "export CODESYNC_SERVER=%s\nexport CODESYNC_DEV_USER=%s\nexport CODESYNC_DEV_PASSWORD=%s\nexport CODESYNC_AUTH_TOKEN=%s\n", base, server.DevUser, pw, tok)
	}
	if f, ok := ios.Out.(*os.File); ok {
		_ = f.Sync()
	}
	err = srv.Serve(ctx, ln, tlsCfg)
	if cerr := closeStore(); err == nil && cerr != nil {
		err = cerr
	}
	fmt.Fprintln(ios.ErrOut, "server stopped")
	return err
}

// versionLabel names the build in the banner. An unreleased build's version
// is "dev", which next to a server that is not in --dev mode read as if it were.
func versionLabel(v string) string {
	if v == "" || v == "dev" {
		return "unreleased build"
	}
	return "version " + v
}

func displayDB(p string) string {
	if p == "" {
		return "temporary"
	}
	return p
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}
