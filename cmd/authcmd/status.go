package authcmd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/credstore"
	"github.com/codesync/codesync-cli/pkg/factory"
	"github.com/codesync/codesync-cli/pkg/output"
)

func NewCmdAuth(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "auth <command>", Short: "Inspect the credential in use; add scopes to your login"}
	cmd.AddCommand(NewCmdStatus(f, nil), NewCmdToken(f, nil), NewCmdRefresh(f, nil))
	return cmd
}

type StatusOptions struct {
	F      *cmdutil.Factory
	Format string
}

// Status is `auth status -o json`.
type Status struct {
	Server    string     `json:"server"`
	Profile   string     `json:"profile"`
	User      string     `json:"user"`
	Source    string     `json:"source"`
	TokenType string     `json:"token_type"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
	LoggedIn  bool       `json:"logged_in"`
	// Provider is the identity provider the session came from; absent for
	// local accounts and API keys.
	Provider string `json:"provider,omitempty"`
	// Claims: for source oidc, the CI identity's claims that the server
	// matched (repository, workflow, ref, environment, run)
	Claims map[string]string `json:"claims,omitempty"`
	// SessionExpiresAt is when a stored OAuth session ends: its refresh
	// token's expiry (each refresh renews it), not the 2-hour access token's.
	SessionExpiresAt *time.Time `json:"session_expires_at,omitempty"`
}

func NewCmdStatus(f *cmdutil.Factory, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{F: f}
	return &cobra.Command{
		Use:         "status",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Show the server, user, credential source, scopes and expiry (exit 4 when logged out)",
		Args:        cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format = format
			if runF != nil {
				return runF(opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
}

func statusRun(ctx context.Context, o *StatusOptions) error {
	cfg, err := o.F.Config()
	if err != nil {
		return err
	}
	st := Status{Server: cfg.Server(), Profile: cfg.ProfileName(), Scopes: []string{}}
	res, err := o.F.Credentials()
	if err != nil {
		return err
	}
	// the failure, if any, is reported after the status is printed
	err = func() error {
		if st.Source, err = res.Source(); err != nil {
			return err
		}
		client, err := o.F.APIClient()
		if err != nil {
			return err
		}
		w, err := client.WhoAmI(ctx)
		if err != nil {
			return err
		}
		st.User, st.TokenType, st.Scopes, st.ExpiresAt, st.LoggedIn = w.User.Name, w.Credential.Type, w.Credential.Scopes, w.Credential.ExpiresAt, true
		st.Provider = w.Credential.Provider
		if st.Source == auth.TypeOIDC {
			if t, err := res.Exchanged(ctx); err == nil {
				st.Claims = t.Claims
			}
		}
		if st.Source != "env" && st.TokenType == auth.TypeOAuth {
			st.SessionExpiresAt = sessionEnd(ctx, o.F, res)
		}
		return nil
	}()
	// no keyring here and nothing else: that is "not logged in", not a
	// keyring failure
	var ue *credstore.UnavailableError
	if errors.As(err, &ue) && st.Source != "env" {
		err = &cmdutil.ExitError{Code: cmdutil.ExitAuth, ErrCode: "not_authenticated", Msg: "you are not logged in",
			Hint: "run 'codesync-cli login --insecure-storage' (no system keyring is usable here: " + ue.Reason + ") or set CODESYNC_AUTH_TOKEN"}
	}
	ios := o.F.IOStreams
	if o.Format == output.FormatJSON {
		if jerr := output.JSON(ios, st); jerr != nil {
			return jerr
		}
	} else if st.LoggedIn {
		exp := "never"
		if st.ExpiresAt != nil {
			exp = fmt.Sprintf("%s (%s)", output.RelativeTime(o.F.Now(), *st.ExpiresAt), st.ExpiresAt.Format(time.RFC3339))
		}
		t := &output.Table{Header: []string{"FIELD", "VALUE"}}
		t.AddRow("server", st.Server)
		t.AddRow("profile", st.Profile)
		t.AddRow("user", st.User)
		source := st.Source
		if source == "env" {
			source = "env (CODESYNC_AUTH_TOKEN)"
		}
		t.AddRow("source", source)
		if st.Provider != "" {
			t.AddRow("provider", st.Provider)
		}
		t.AddRow("token_type", st.TokenType)
		t.AddRow("scopes", strings.Join(st.Scopes, ","))
		if st.SessionExpiresAt != nil {
			t.AddRow("session", fmt.Sprintf("ends %s (%s) unless refreshed; each refresh renews it", output.RelativeTime(o.F.Now(), *st.SessionExpiresAt), st.SessionExpiresAt.Format(time.RFC3339)))
			exp += ", renewed automatically"
			t.AddRow("access token", exp)
		} else {
			t.AddRow("expires", exp)
		}
		for _, k := range slices.Sorted(maps.Keys(st.Claims)) {
			t.AddRow("claim "+k, st.Claims[k])
		}
		if rerr := t.Render(ios); rerr != nil {
			return rerr
		}
	}
	return err
}

type TokenOptions struct {
	F *cmdutil.Factory
	// OIDC: exchange the CI job's identity (trusted publishing) and print
	// the exchanged token, even when CODESYNC_AUTH_TOKEN is set
	OIDC bool
}

func NewCmdToken(f *cmdutil.Factory, runF func(*TokenOptions) error) *cobra.Command {
	opts := &TokenOptions{F: f}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print the current access token, refreshed if needed, and nothing else",
		Long: `Print the current access token, refreshed if needed, and nothing else.

With --oidc, exchange the CI job's OpenID Connect identity (trusted publishing:
GitHub Actions with id-token: write, or an ID token in CODESYNC_ID_TOKEN) for a
short-lived token and print that, for other tools (curl, a package manager).
Nothing is written to disk. Exit 4 when the job has no CI identity or the
server refuses it.`,
		Example: `  $ export CODESYNC_AUTH_TOKEN="$(codesync-cli auth token --oidc)"`,
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return tokenRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.OIDC, "oidc", false, "exchange the CI job's OpenID identity (trusted publishing) and print that token")
	return cmd
}

func tokenRun(ctx context.Context, o *TokenOptions) error {
	f := o.F
	if o.OIDC {
		// an explicit request: CODESYNC_AUTH_TOKEN does not hide the CI identity
		ci := auth.DetectCI(func(k string) string {
			if k == auth.EnvAuthToken {
				return ""
			}
			return f.Getenv(k)
		})
		if ci == nil {
			return &auth.CIError{Msg: "no CI identity found: GitHub Actions needs permissions: id-token: write (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN); elsewhere put an ID token in CODESYNC_ID_TOKEN"}
		}
		t, err := factory.ExchangeCI(ctx, f, ci)
		if err != nil {
			return err
		}
		fmt.Fprintln(f.IOStreams.Out, t.AccessToken)
		return nil
	}
	res, err := f.Credentials()
	if err != nil {
		return err
	}
	tok, err := res.Token(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(f.IOStreams.Out, tok)
	return nil
}

// sessionEnd asks the server (RFC 7662 introspection) when the stored
// session's refresh token expires; nil when it cannot tell.
func sessionEnd(ctx context.Context, f *cmdutil.Factory, res *auth.Resolver) *time.Time {
	s, err := res.Load()
	if err != nil || s.RefreshToken == "" {
		return nil
	}
	c, err := f.AnonymousClient()
	if err != nil {
		return nil
	}
	exp, err := auth.RefreshExpiry(ctx, c, s)
	if err != nil || exp.IsZero() {
		return nil
	}
	return &exp
}
