package authcmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/credstore"
)

type LogoutOptions struct {
	F *cmdutil.Factory
}

func NewCmdLogout(f *cmdutil.Factory, runF func(*LogoutOptions) error) *cobra.Command {
	opts := &LogoutOptions{F: f}
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the stored session and delete it",
		Long: `Revoke the stored session's refresh token on the server (RFC 7009) and delete
the session from the keyring or credentials file. Succeeds when nothing is stored.
CODESYNC_AUTH_TOKEN is not touched: unset it yourself.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return logoutRun(cmd.Context(), opts)
		},
	}
}

func logoutRun(ctx context.Context, o *LogoutOptions) error {
	cfg, err := o.F.Config()
	if err != nil {
		return err
	}
	res, err := o.F.Credentials()
	if err != nil {
		return err
	}
	ios := o.F.IOStreams
	s, err := res.Load()
	envNote := func() {
		if o.F.Getenv("CODESYNC_AUTH_TOKEN") != "" {
			fmt.Fprintln(ios.ErrOut, "note: CODESYNC_AUTH_TOKEN is still set and still authenticates commands; unset it to stop that")
		}
	}
	var ue *credstore.UnavailableError
	if errors.Is(err, auth.ErrNotLoggedIn) || errors.As(err, &ue) {
		// no keyring usable here: nothing can be stored in it either
		fmt.Fprintf(ios.ErrOut, "Not logged in to %s (profile %s): nothing to do.\n", cfg.Server(), cfg.ProfileName())
		envNote()
		return nil
	}
	if err == nil && s.Type == auth.TypeOAuth {
		c, cerr := o.F.AnonymousClient()
		if cerr == nil {
			if rerr := auth.Revoke(ctx, c, cfg.OAuthIssuer(), s); rerr != nil {
				fmt.Fprintf(ios.ErrOut, "warning: could not revoke the session on the server (%s); deleting it here anyway\n", rerr)
			}
		}
	}
	// an unreadable session is deleted all the same
	if err := res.Delete(); err != nil {
		return err
	}
	fmt.Fprintf(ios.ErrOut, "Logged out of %s (profile %s).\n", cfg.Server(), cfg.ProfileName())
	envNote()
	return nil
}
