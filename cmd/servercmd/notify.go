package servercmd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"strings"

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
	secret, err := loadServerSecret(dbPath + ".secret")
	if err != nil {
		return nil, err
	}
	n.ServerSecret = secret
	return n, nil
}

// loadServerSecret reads the server secret kept next to the database
// (DB.secret, 32 random bytes in hex, mode 0600), creating it on first
// start. Webhook signing secrets are sealed with a key derived from it: a
// copy of the database alone does not reveal them.
func loadServerSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, cerr := createServerSecret(path)
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

// createServerSecret writes a new secret to path, which must not exist.
func createServerSecret(path string) ([]byte, error) {
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
	return raw, err
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
