package servercmd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

var providerIDRE = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// newCmdLink is `server user link` (link) or `server user unlink`.
func newCmdLink(f *cmdutil.Factory, so *Options, link bool) *cobra.Command {
	var provider, subject string
	use, short := "link NAME --provider ID --subject SUBJECT", "Link an upstream identity (provider, subject) to a user: their sign-ins with that provider land in this account"
	if !link {
		use, short = "unlink NAME --provider ID --subject SUBJECT", "Unlink an upstream identity from a user: the sessions it opened end, and the next sign-in creates a new account"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cmdutil.ExactArgs(1, "one user NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !providerIDRE.MatchString(provider) {
				return cmdutil.UsageErrorf("--provider: give the id of an identity provider of the server configuration ([a-z0-9-]+)")
			}
			if subject == "" || len(subject) > 255 {
				return cmdutil.UsageErrorf("--subject: give the provider's subject (its stable user id), at most 255 characters")
			}
			return withStore(so, func(st *store.Store) error {
				ctx := context.Background()
				u, err := st.UserByName(ctx, args[0])
				if errors.Is(err, store.ErrNotFound) {
					return &cmdutil.ExitError{Code: cmdutil.ExitNotFound, ErrCode: "not_found", Msg: "no such user " + args[0]}
				} else if err != nil {
					return err
				}
				now := time.Now().UTC()
				if link {
					ev := &store.Event{UserID: &u.ID, Type: model.EventIdentityLinked, Time: now, Actor: "server-admin", Detail: fmt.Sprintf("linked to %s subject %s by an administrator", provider, subject)}
					err := st.LinkIdentity(ctx, &store.Identity{Provider: provider, Subject: subject, UserID: u.ID, CheckedAt: now, LinkedAt: now}, ev)
					if errors.Is(err, store.ErrExists) {
						return &cmdutil.ExitError{Code: cmdutil.ExitConflict, ErrCode: "identity_exists",
							Msg: fmt.Sprintf("%s subject %s is linked already, or %s has a %s identity already: unlink it first", provider, subject, u.Name, provider)}
					} else if err != nil {
						return err
					}
					fmt.Fprintf(f.IOStreams.ErrOut, "linked %s subject %s to user %s\n", provider, subject, u.Name)
					return nil
				}
				idn, err := st.IdentityBySubject(ctx, provider, subject)
				if errors.Is(err, store.ErrNotFound) || (err == nil && idn.UserID != u.ID) {
					return &cmdutil.ExitError{Code: cmdutil.ExitNotFound, ErrCode: "not_found", Msg: fmt.Sprintf("%s subject %s is not linked to %s", provider, subject, u.Name)}
				} else if err != nil {
					return err
				}
				ev := &store.Event{UserID: &u.ID, Type: model.EventIdentityLinked, Time: now, Actor: "server-admin", Detail: fmt.Sprintf("unlinked from %s subject %s by an administrator", provider, subject)}
				if err := st.UnlinkIdentity(ctx, provider, subject, ev); err != nil {
					return err
				}
				fmt.Fprintf(f.IOStreams.ErrOut, "unlinked %s subject %s from user %s\n", provider, subject, u.Name)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&provider, "provider", "", "identity provider id (as in the server configuration file)")
	cmd.Flags().StringVar(&subject, "subject", "", "the provider's subject: OIDC sub, GitHub's numeric user id")
	return cmd
}
