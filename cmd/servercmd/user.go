package servercmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/output"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

func NewCmdUser(f *cmdutil.Factory, so *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user <command>",
		Short: "Administer the users of a server database (--db)",
	}
	var pwStdin bool
	var email string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user; the password comes from stdin or is generated and printed once",
		Args:  cmdutil.ExactArgs(1, "one user NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(so, func(st *store.Store) error {
				pw := ""
				if pwStdin {
					line, err := bufio.NewReader(f.IOStreams.In).ReadString('\n')
					pw = strings.TrimRight(line, "\r\n")
					if pw == "" && err != nil {
						return cmdutil.UsageErrorf("--password-stdin: no password on stdin")
					}
					if len(pw) < 8 {
						return cmdutil.UsageErrorf("the password must have at least 8 characters")
					}
				}
				generated := pw == ""
				if generated {
					pw = token.RandomString(20)
				}
				if !validUserName(args[0]) {
					return cmdutil.UsageErrorf("invalid user name %q: use 1 to 64 letters, digits, '-', '_' or '.'", args[0])
				}
				addr, err := checkEmail(email)
				if err != nil {
					return err
				}
				if _, err := st.CreateUser(context.Background(), args[0], server.HashPassword(pw), time.Now()); errors.Is(err, store.ErrExists) {
					return &cmdutil.ExitError{Code: cmdutil.ExitConflict, ErrCode: "user_exists", Msg: fmt.Sprintf("the user %s exists already", args[0])}
				} else if err != nil {
					return err
				}
				if addr != "" {
					if err := st.SetUserEmail(context.Background(), args[0], addr); err != nil {
						return err
					}
				}
				fmt.Fprintf(f.IOStreams.ErrOut, "added user %s\n", args[0])
				if generated {
					fmt.Fprintf(f.IOStreams.Out, "%s\n", pw)
					fmt.Fprintln(f.IOStreams.ErrOut, "the generated password above is shown once")
				}
				return nil
			})
		},
	}
	add.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from stdin")
	add.Flags().StringVar(&email, "email", "", "the user's e-mail address (expiry notices go there)")
	suspend := &cobra.Command{
		Use:   "suspend NAME",
		Short: "Suspend a user: every credential of theirs is refused with account_suspended",
		Args:  cmdutil.ExactArgs(1, "one user NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(so, func(st *store.Store) error {
				if err := st.SetSuspended(context.Background(), args[0], true); errors.Is(err, store.ErrNotFound) {
					return &cmdutil.ExitError{Code: cmdutil.ExitNotFound, ErrCode: "not_found", Msg: "no such user " + args[0]}
				} else if err != nil {
					return err
				}
				fmt.Fprintf(f.IOStreams.ErrOut, "suspended user %s\n", args[0])
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use:         "list",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "List users",
		Args:        cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			return withStore(so, func(st *store.Store) error {
				users, err := st.ListUsers(context.Background())
				if err != nil {
					return err
				}
				type row struct {
					Name      string    `json:"name"`
					Suspended bool      `json:"suspended"`
					CreatedAt time.Time `json:"created_at"`
				}
				rows := []row{}
				t := &output.Table{Header: []string{"NAME", "STATUS", "CREATED"}}
				for _, u := range users {
					rows = append(rows, row{u.Name, u.Suspended, u.CreatedAt})
					status := "active"
					if u.Suspended {
						status = "suspended"
					}
					t.AddRow(u.Name, status, u.CreatedAt.Format(time.RFC3339))
				}
				if format == output.FormatJSON {
					return output.JSON(f.IOStreams, rows)
				}
				return t.Render(f.IOStreams)
			})
		},
	}
	cmd.AddCommand(add, suspend, list, newCmdUserSet(f, so), newCmdLink(f, so, true), newCmdLink(f, so, false))
	return cmd
}

func validUserName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func withStore(o *Options, fn func(*store.Store) error) error {
	if o.DB == "" {
		return cmdutil.UsageErrorf("--db PATH is required")
	}
	st, err := store.Open(o.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}
