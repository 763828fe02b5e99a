package authcmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/keyrules"
)

// RefreshOptions is `auth refresh`.
type RefreshOptions struct {
	F           *cmdutil.Factory
	AddScopes   []string
	Device, Web bool
	NoBrowser   bool
}

func NewCmdRefresh(f *cmdutil.Factory, runF func(*RefreshOptions) error) *cobra.Command {
	opts := &RefreshOptions{F: f}
	var scopes string
	cmd := &cobra.Command{
		Use:   "refresh [--scopes S,…]",
		Short: "Add scopes to your OAuth login by a new authorization, without logging out",
		Long: `Authorize the stored OAuth login again, in the browser or with a device code,
for its scopes plus those given with --scopes. The new session replaces the old
one only once it is approved; the old one is then revoked. Without --scopes it
renews the login with the scopes it has.`,
		Example: `  $ codesync-cli auth refresh --scopes registry:publish
  $ codesync-cli auth refresh --scopes npm:scope:write --device`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Device && opts.Web {
				return cmdutil.UsageErrorf("--device and --web exclude each other")
			}
			if scopes != "" {
				s, err := keyrules.ParseScopes(scopes)
				if err != nil {
					return cmdutil.UsageErrorf("%s", err)
				}
				opts.AddScopes = s
			}
			if runF != nil {
				return runF(opts)
			}
			return refreshRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&scopes, "scopes", "", "comma-separated scopes to add")
	fl.BoolVar(&opts.Device, "device", false, "use the device code flow (RFC 8628)")
	fl.BoolVar(&opts.Web, "web", false, "use the browser flow with PKCE")
	fl.BoolVar(&opts.NoBrowser, "no-browser", false, "do not open a browser; print the URL")
	_ = cmd.RegisterFlagCompletionFunc("scopes", cmdutil.CompleteScopes)
	return cmd
}

func refreshRun(ctx context.Context, o *RefreshOptions) error {
	ios := o.F.IOStreams
	if o.F.Getenv("CODESYNC_AUTH_TOKEN") != "" {
		fmt.Fprintln(ios.ErrOut, "warning: CODESYNC_AUTH_TOKEN is set and keeps taking precedence over the stored login; unset it to use this one")
	}
	cfg, err := o.F.Config()
	if err != nil {
		return err
	}
	res, err := o.F.Credentials()
	if err != nil {
		return err
	}
	old, err := res.Load()
	if err != nil {
		return err
	}
	if old.Type != auth.TypeOAuth {
		return cmdutil.UsageErrorf("the stored credential is a %s, not an OAuth login: scopes cannot be added to it (run 'codesync-cli login --scopes …' to log in with OAuth)", old.Type)
	}
	scopes := slices.Clone(old.Scopes)
	if len(scopes) == 0 {
		scopes = slices.Clone(auth.DefaultScopes)
	}
	var added []string
	for _, s := range o.AddScopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
			added = append(added, s)
		}
	}
	lo := &LoginOptions{F: o.F, Device: o.Device, Web: o.Web, NoBrowser: o.NoBrowser, Scopes: scopes}
	s, err := oauthLogin(ctx, lo)
	if err != nil {
		return err
	}
	if old.User != "" && s.User != old.User {
		return cmdutil.Errorf("the new authorization is for %s, the stored login for %s: nothing changed (use 'codesync-cli login' to switch users)", s.User, old.User)
	}
	if err := res.Save(s); err != nil {
		return err
	}
	// the old session is replaced: end it on the server too
	if c, cerr := o.F.AnonymousClient(); cerr == nil {
		if rerr := auth.Revoke(ctx, c, cfg.OAuthIssuer(), old); rerr != nil && !errors.Is(rerr, context.Canceled) {
			fmt.Fprintf(ios.ErrOut, "warning: could not revoke the previous session on the server (%s)\n", rerr)
		}
	}
	what := "Renewed"
	if len(added) > 0 {
		what = "Added " + strings.Join(added, ", ") + " to"
	}
	fmt.Fprintf(ios.ErrOut, "%s the login of %s on %s. Scopes: %s.\n", what, s.User, cfg.Server(), strings.Join(s.Scopes, ", "))
	return nil
}
