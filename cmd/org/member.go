package org

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
)

func NewCmdMember(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member <command>",
		Short: "Invite, remove and list members; change roles",
		Long: `Adding a user invites them: they join when they accept (org member accept SLUG,
as themselves); until then nothing of theirs (keys, events, packages) is
reachable by the organization. Roles: owner (everything: roles, policy, deleting), admin (adds and removes
members other than owners, claims scopes, revokes members' keys), member
(publishes into the organization's scopes, manages own keys), auditor (reads and
exports; changes nothing). An organization keeps at least one owner.`,
	}
	cmd.AddCommand(NewCmdMemberAdd(f, nil), NewCmdMemberAccept(f, nil), NewCmdMemberDecline(f, nil), NewCmdMemberRemove(f, nil), NewCmdMemberList(f, nil), NewCmdMemberSetRole(f, nil), NewCmdMemberRevokeKey(f, nil))
	return cmd
}

func checkRole(role string) error {
	if !slices.Contains(model.Roles, role) {
		return cmdutil.UsageErrorf("invalid role %q: use %s", role, strings.Join(model.Roles, ", "))
	}
	return nil
}

type MemberAddOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
	User   string
	Role   string
}

func NewCmdMemberAdd(f *cmdutil.Factory, runF func(*MemberAddOptions) error) *cobra.Command {
	opts := &MemberAddOptions{F: f}
	cmd := &cobra.Command{
		Use:   "add SLUG USER",
		Short: "Invite a user to an organization (owners, admins)",
		Long: `Invite a user: they become a member with --role when they accept
(codesync-cli org member accept SLUG). Until then the organization reaches
nothing of theirs; org member list shows the invitation as invited, and
org member remove withdraws it.`,
		Example:           `  $ codesync-cli org member add acme-corp carol --role auditor`,
		Args:              cmdutil.ExactArgs(2, "an organization slug and a user name"),
		ValidArgsFunction: completeSlugThen(f, nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			if err := checkRole(opts.Role); err != nil {
				return err
			}
			opts.Format, opts.Slug, opts.User = format, args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return memberAddRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Role, "role", model.RoleMember, "owner, admin, member or auditor")
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions(model.Roles, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func memberAddRun(o *MemberAddOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	m, err := c.AddMember(o.F.Context, o.Slug, model.AddMemberRequest{User: o.User, Role: o.Role})
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, m)
	}
	fmt.Fprintf(o.F.IOStreams.ErrOut, "Invited %s to %s as %s: they join when they run 'codesync-cli org member accept %s'.\n", m.User, o.Slug, m.Role, o.Slug)
	return nil
}

type MemberAnswerOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
	Accept bool
}

// NewCmdMemberAccept: the invited user joins.
func NewCmdMemberAccept(f *cmdutil.Factory, runF func(*MemberAnswerOptions) error) *cobra.Command {
	return newCmdMemberAnswer(f, runF, true)
}

// NewCmdMemberDecline: the invited user turns the invitation down.
func NewCmdMemberDecline(f *cmdutil.Factory, runF func(*MemberAnswerOptions) error) *cobra.Command {
	return newCmdMemberAnswer(f, runF, false)
}

func newCmdMemberAnswer(f *cmdutil.Factory, runF func(*MemberAnswerOptions) error, accept bool) *cobra.Command {
	opts := &MemberAnswerOptions{F: f, Accept: accept}
	cmd := &cobra.Command{
		Use:   "accept SLUG",
		Short: "Accept an invitation to an organization",
		Long: `Join an organization you were invited to, with the role of the invitation.
From then on its owners, admins and auditors see your keys that reach its scopes
and your events from now on, its policy applies to your keys, and removing you
offboards you. Takes a credential without namespace limits.`,
		Example: `  $ codesync-cli org list
  $ codesync-cli org member accept acme-corp`,
		Args: cmdutil.ExactArgs(1, "an organization slug"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			opts.Format, opts.Slug = format, args[0]
			if runF != nil {
				return runF(opts)
			}
			return memberAnswerRun(opts)
		},
	}
	if !accept {
		cmd.Use, cmd.Short = "decline SLUG", "Decline an invitation to an organization"
		cmd.Long = "Turn down an invitation to an organization: nothing of yours was or becomes reachable by it."
		cmd.Example = "  $ codesync-cli org member decline acme-corp"
	}
	return cmd
}

func memberAnswerRun(o *MemberAnswerOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	who, err := c.WhoAmI(o.F.Context)
	if err != nil {
		return err
	}
	if !o.Accept {
		if err := c.DeclineInvitation(o.F.Context, o.Slug, who.User.Name); err != nil {
			return err
		}
		fmt.Fprintf(o.F.IOStreams.ErrOut, "Declined the invitation to %s.\n", o.Slug)
		return nil
	}
	m, err := c.AcceptInvitation(o.F.Context, o.Slug, who.User.Name)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, m)
	}
	fmt.Fprintf(o.F.IOStreams.ErrOut, "Joined %s as %s.\n", o.Slug, m.Role)
	return nil
}

type MemberRemoveOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
	User   string
	Yes    bool
}

func NewCmdMemberRemove(f *cmdutil.Factory, runF func(*MemberRemoveOptions) error) *cobra.Command {
	opts := &MemberRemoveOptions{F: f}
	cmd := &cobra.Command{
		Use:   "remove SLUG USER",
		Short: "Offboard a member: revoke their keys for the organization (asks first)",
		Long: `Remove a member (owners and admins; anyone may remove themselves). Offboarding
revokes every key of theirs that reaches the organization's scopes (a key without
namespaces reaches them all), deletes their registered JWT keys, and hands their
packages in the organization's scopes to the organization. Each step is an audit
event. Without a terminal, --yes is required.`,
		Args:              cmdutil.ExactArgs(2, "an organization slug and a member name"),
		ValidArgsFunction: completeMembers(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			opts.Format, opts.Slug, opts.User = format, args[0], args[1]
			q := fmt.Sprintf("Remove %s from %s? Their keys reaching the organization are revoked at once.", opts.User, opts.Slug)
			if err := confirm(f.IOStreams, opts.Yes, q, "remove a member"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return memberRemoveRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func memberRemoveRun(o *MemberRemoveOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	res, err := c.RemoveMember(o.F.Context, o.Slug, o.User)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, res)
	}
	out := o.F.IOStreams.Out
	fmt.Fprintf(o.F.IOStreams.ErrOut, "Removed %s from %s.\n", res.User, o.Slug)
	for _, id := range res.RevokedKeys {
		fmt.Fprintf(out, "revoked key      %s\n", id)
	}
	for _, id := range res.DeletedJWTKeys {
		fmt.Fprintf(out, "deleted JWT key  %s\n", id)
	}
	for _, p := range res.HandedPackages {
		fmt.Fprintf(out, "handed package   %s\n", p)
	}
	return nil
}

type MemberListOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
}

func NewCmdMemberList(f *cmdutil.Factory, runF func(*MemberListOptions) error) *cobra.Command {
	opts := &MemberListOptions{F: f}
	return &cobra.Command{
		Use:               "list SLUG",
		Aliases:           []string{"ls"},
		Short:             "List an organization's members and their roles",
		Args:              cmdutil.ExactArgs(1, "one organization slug"),
		ValidArgsFunction: completeSlugThen(f, nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			opts.Format, opts.Slug = format, args[0]
			if runF != nil {
				return runF(opts)
			}
			return memberListRun(opts)
		},
	}
}

func memberListRun(o *MemberListOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	ms, err := c.Members(o.F.Context, o.Slug)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, ms)
	}
	t := &output.Table{Header: []string{"USER", "ROLE", "ADDED"}}
	now := o.F.Now()
	for _, m := range ms {
		role := m.Role
		if m.Status == model.MemberInvited {
			role += " (invited)"
		}
		t.AddRow(m.User, role, output.RelativeTime(now, m.AddedAt))
	}
	return t.Render(o.F.IOStreams)
}

type MemberSetRoleOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
	User   string
	Role   string
}

func NewCmdMemberSetRole(f *cmdutil.Factory, runF func(*MemberSetRoleOptions) error) *cobra.Command {
	opts := &MemberSetRoleOptions{F: f}
	return &cobra.Command{
		Use:   "set-role SLUG USER ROLE",
		Short: "Change a member's role (owners)",
		Args:  cmdutil.ExactArgs(3, "an organization slug, a member name and a role"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 2 {
				return model.Roles, cobra.ShellCompDirectiveNoFileComp
			}
			return completeMembers(f)(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			if err := checkRole(args[2]); err != nil {
				return err
			}
			opts.Format, opts.Slug, opts.User, opts.Role = format, args[0], args[1], args[2]
			if runF != nil {
				return runF(opts)
			}
			return setRoleRun(opts)
		},
	}
}

func setRoleRun(o *MemberSetRoleOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	m, err := c.SetRole(o.F.Context, o.Slug, o.User, o.Role)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, m)
	}
	fmt.Fprintf(o.F.IOStreams.ErrOut, "%s is now %s of %s.\n", m.User, withArticle(m.Role), o.Slug)
	return nil
}

func withArticle(role string) string {
	if role == model.RoleMember {
		return "a member"
	}
	return "an " + role
}

type MemberRevokeKeyOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
	User   string
	KeyID  string
	Yes    bool
}

func NewCmdMemberRevokeKey(f *cmdutil.Factory, runF func(*MemberRevokeKeyOptions) error) *cobra.Command {
	opts := &MemberRevokeKeyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "revoke-key SLUG USER KEY_ID",
		Short: "Revoke a member's key that reaches the organization (owners, admins)",
		Long: `Revoke one of a member's keys that reaches the organization's scopes, for
example one 'key audit-export --org' shows breaking the policy. Owners and admins
only; recorded as token:revoked in the member's and the organization's log.`,
		Args:              cmdutil.KeyIDArgs(cmdutil.ExactArgs(3, "an organization slug, a member name and a key ID"), 2),
		ValidArgsFunction: completeMembers(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			opts.Format, opts.Slug, opts.User, opts.KeyID = format, args[0], args[1], args[2]
			q := fmt.Sprintf("Revoke %s's key %s? Pipelines using it will fail at once.", opts.User, opts.KeyID)
			if err := confirm(f.IOStreams, opts.Yes, q, "revoke a key"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return revokeKeyRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func revokeKeyRun(o *MemberRevokeKeyOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	k, err := c.RevokeMemberKey(o.F.Context, o.Slug, o.User, o.KeyID)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, k)
	}
	fmt.Fprintf(o.F.IOStreams.Out, "revoked %s (%s) of %s\n", k.ID, k.Name, k.Owner)
	return nil
}
