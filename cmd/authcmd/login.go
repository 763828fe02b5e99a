// Package authcmd is `codesync-cli login`, `logout` and `auth status|token`.
package authcmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/credstore"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/keyrules"
)

type LoginOptions struct {
	F               *cmdutil.Factory
	Device, Web     bool
	WithToken       bool
	Scopes          []string
	NoBrowser       bool
	InsecureStorage bool
}

func NewCmdLogin(f *cmdutil.Factory, runF func(*LoginOptions) error) *cobra.Command {
	opts := &LoginOptions{F: f}
	var scopes string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to CodeSync (browser, device code, or a token on stdin)",
		Long: `Log in and keep the session in the OS keyring.

  --web         browser sign-in with PKCE and a loopback redirect on 127.0.0.1
  --device      device code: open the printed URL on any device and enter the code
  --with-token  read one token (API key, access token or JWT) from stdin

Without --web or --device: --web when a browser can be opened (a desktop session,
not SSH), else --device. Where no keyring is usable (headless Linux, containers),
--insecure-storage (or CODESYNC_KEYRING=file) stores the session in
credentials.json with mode 0600 instead.`,
		Example: `  $ codesync-cli login
  $ codesync-cli login --device
  $ echo "$CODESYNC_KEY" | codesync-cli login --with-token`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Device && opts.Web {
				return cmdutil.UsageErrorf("--device and --web exclude each other")
			}
			if opts.WithToken && (opts.Device || opts.Web) {
				return cmdutil.UsageErrorf("--with-token excludes --device and --web")
			}
			if scopes != "" {
				s, err := keyrules.ParseScopes(scopes)
				if err != nil {
					return cmdutil.UsageErrorf("%s", err)
				}
				opts.Scopes = s
			} else {
				opts.Scopes = auth.DefaultScopes
			}
			if runF != nil {
				return runF(opts)
			}
			return loginRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Device, "device", false, "use the device code flow (RFC 8628)")
	fl.BoolVar(&opts.Web, "web", false, "use the browser flow with PKCE")
	fl.BoolVar(&opts.WithToken, "with-token", false, "read a token from stdin")
	fl.StringVar(&scopes, "scopes", "", "comma-separated scopes (default keys:read,keys:write,audit:read,registry:read)")
	fl.BoolVar(&opts.NoBrowser, "no-browser", false, "do not open a browser; print the URL")
	fl.BoolVar(&opts.InsecureStorage, "insecure-storage", false, "store the session in credentials.json (0600) instead of the keyring")
	_ = cmd.RegisterFlagCompletionFunc("scopes", cmdutil.CompleteScopes)
	return cmd
}

// sessionStore picks where the session goes and records that choice in the
// profile, so later commands read from the same place.
func sessionStore(o *LoginOptions) (*auth.Resolver, string, error) {
	cfg, err := o.F.Config()
	if err != nil {
		return nil, "", err
	}
	res, err := o.F.Credentials()
	if err != nil {
		return nil, "", err
	}
	kind := cfg.Storage()
	if o.InsecureStorage {
		kind = "file"
	}
	r := *res
	r.Store = func() (credstore.Store, error) { return o.F.Store(kind) }
	return &r, kind, nil
}

func loginRun(ctx context.Context, o *LoginOptions) error {
	ios := o.F.IOStreams
	if o.F.Getenv("CODESYNC_AUTH_TOKEN") != "" {
		fmt.Fprintln(ios.ErrOut, "warning: CODESYNC_AUTH_TOKEN is set and keeps taking precedence over the stored login; unset it to use this one")
	}
	res, kind, err := sessionStore(o)
	if err != nil {
		return err
	}
	// Look at the store before any browser or device step: where no keyring
	// is usable, say so now, not after the person approved the login.
	existing, err := res.Load()
	var ue *credstore.UnavailableError
	switch {
	case errors.As(err, &ue):
		return &cmdutil.ExitError{Code: cmdutil.ExitFailure, ErrCode: "keyring_unavailable", Msg: ue.Error(), Hint: ue.Hint()}
	case err == nil && existing != nil && ios.CanPrompt():
		cfg, _ := o.F.Config()
		who := existing.User
		if who == "" {
			who = "a " + existing.Type + " credential"
		}
		ok, err := ios.Confirm(fmt.Sprintf("You are already logged in to %s as %s. Log in again?", cfg.Server(), who))
		if err != nil {
			return err
		}
		if !ok {
			return iostreams.ErrCancelled
		}
	}
	var s *auth.Session
	switch {
	case o.WithToken:
		s, err = tokenFromStdin(ctx, o)
	default:
		s, err = oauthLogin(ctx, o)
	}
	if err != nil {
		return err
	}
	if err := res.Save(s); err != nil {
		var ue *credstore.UnavailableError
		if errors.As(err, &ue) {
			return &cmdutil.ExitError{Code: cmdutil.ExitFailure, ErrCode: "keyring_unavailable", Msg: ue.Error(), Hint: ue.Hint()}
		}
		return err
	}
	if kind == "file" {
		fmt.Fprintln(ios.ErrOut, "warning: the session is stored in plain text in credentials.json (mode 0600), not in the OS keyring")
	}
	cfg, _ := o.F.Config()
	p := cfg.File.Profile(cfg.ProfileName())
	p.Server, p.User, p.Storage = cfg.Server(), s.User, kind
	if err := cfg.File.Save(); err != nil {
		return err
	}
	fmt.Fprintf(ios.ErrOut, "Logged in to %s as %s (%s, stored in the %s).\n", cfg.Server(), s.User, s.Type, map[string]string{"file": "credentials file", "keyring": "OS keyring"}[kind])
	return nil
}

// tokenFromStdin reads one token and checks it with whoami before storing.
// On a terminal it asks for it with a masked prompt.
func tokenFromStdin(ctx context.Context, o *LoginOptions) (*auth.Session, error) {
	ios := o.F.IOStreams
	var line string
	var err error
	if ios.IsStdinTTY() && ios.CanPrompt() {
		if line, err = ios.ReadSecret("Paste your token: "); err != nil {
			return nil, err
		}
	} else {
		line, err = bufio.NewReader(io.LimitReader(ios.In, 16<<10)).ReadString('\n')
	}
	tok := strings.TrimSpace(line)
	if tok == "" {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, cmdutil.UsageErrorf("--with-token: no token on stdin (pipe one in: echo \"$TOKEN\" | codesync-cli login --with-token)")
	}
	c, err := o.F.AnonymousClient()
	if err != nil {
		return nil, err
	}
	checked, err := c.WithToken(tok).WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	s := &auth.Session{Type: checked.Credential.Type, AccessToken: tok, Scopes: checked.Credential.Scopes, User: checked.User.Name}
	if checked.Credential.ExpiresAt != nil {
		s.Expiry = *checked.Credential.ExpiresAt
	}
	return s, nil
}
