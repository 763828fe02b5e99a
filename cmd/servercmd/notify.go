package servercmd

import (
	"errors"
	"fmt"
	"net/mail"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	codemail "github.com/codesync/codesync-cli/pkg/mail"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// SMTPPasswordEnv holds the SMTP password (never a flag: flags show in
// process lists).
const SMTPPasswordEnv = "CODESYNC_SMTP_PASSWORD"

// notifications configures expiry notices and webhooks from the flags and
// the server secret kept next to the database.
func (o *Options) notifications(dbPath string) (*server.Notifications, error) {
	n := &server.Notifications{AllowPrivate: o.WebhookAllowPrivate}
	if o.SMTPURL != "" {
		if o.SMTPFrom == "" {
			return nil, cmdutil.UsageErrorf("--smtp-url needs --smtp-from ADDRESS")
		}
		m, err := codemail.New(codemail.Config{URL: o.SMTPURL, From: o.SMTPFrom, Password: o.F.Getenv(SMTPPasswordEnv), PasswordEnv: SMTPPasswordEnv})
		if err != nil {
			return nil, cmdutil.UsageErrorf("%s", err)
		}
		n.Mail = m
	} else if o.SMTPFrom != "" {
		return nil, cmdutil.UsageErrorf("--smtp-from needs --smtp-url")
	}
	secret, err := serverSecret(dbPath + ".secret")
	if err != nil {
		return nil, err
	}
	n.ServerSecret = secret
	return n, nil
}

// checkEmail accepts a bare address (alice@example.com) or "".
func checkEmail(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", cmdutil.UsageErrorf("invalid --email %q: give an address such as alice@example.com", s)
	}
	return a.Address, nil
}

func newCmdUserSet(f *cmdutil.Factory, so *Options) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "set NAME --email ADDRESS",
		Short: "Change a user's settings: the e-mail address expiry notices go to",
		Long: `Change a user's settings. --email sets the address that expiry notices of the
user's keys are sent to (with --smtp-url); --email "" removes it.`,
		Example: `  $ codesync-cli server user set alice --email alice@example.com --db codesync.sqlite`,
		Args:    cmdutil.ExactArgs(1, "one user NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("email") {
				return cmdutil.UsageErrorf("nothing to set: give --email ADDRESS")
			}
			addr, err := checkEmail(email)
			if err != nil {
				return err
			}
			return withStore(so, func(st *store.Store) error {
				if err := st.SetUserEmail(cmd.Context(), args[0], addr); errors.Is(err, store.ErrNotFound) {
					return &cmdutil.ExitError{Code: cmdutil.ExitNotFound, ErrCode: "not_found", Msg: "no such user " + args[0]}
				} else if err != nil {
					return err
				}
				if addr == "" {
					fmt.Fprintf(f.IOStreams.ErrOut, "removed the e-mail address of user %s\n", args[0])
				} else {
					fmt.Fprintf(f.IOStreams.ErrOut, "set the e-mail address of user %s to %s\n", args[0], addr)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "e-mail address for expiry notices (\"\" removes it)")
	return cmd
}
