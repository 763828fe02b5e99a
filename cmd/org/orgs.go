package org

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
)

type CreateOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
	Name   string
}

func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "create SLUG",
		Short: "Create an organization (you become its owner)",
		Long: `Create an organization. SLUG is lower case letters, digits and -, as an npm
scope is; you become its first owner. Claim its npm scopes with
'codesync-cli org namespace claim SLUG @scope'.`,
		Example: `  $ codesync-cli org create acme-corp --name "Acme Corp"`,
		Args:    cmdutil.ExactArgs(1, "one organization slug"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			opts.Format, opts.Slug = format, args[0]
			if runF != nil {
				return runF(opts)
			}
			return createRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "display name (default: the slug)")
	return cmd
}

func createRun(o *CreateOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	d, err := c.CreateOrg(o.F.Context, model.CreateOrgRequest{Slug: o.Slug, Name: o.Name})
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, d)
	}
	fmt.Fprintf(o.F.IOStreams.ErrOut, "Created organization %s (%s); you are its owner.\n", d.Slug, d.Name)
	fmt.Fprintln(o.F.IOStreams.Out, d.Slug)
	return nil
}

type ListOptions struct {
	F      *cmdutil.Factory
	Format string
}

func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your organizations and your role in each",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			opts.Format = format
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
}

func listRun(o *ListOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	orgs, err := c.Orgs(o.F.Context)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, orgs)
	}
	if len(orgs) == 0 {
		fmt.Fprintln(o.F.IOStreams.ErrOut, "No organizations. Create one with 'codesync-cli org create SLUG'.")
		return nil
	}
	t := &output.Table{Header: []string{"SLUG", "NAME", "ROLE"}}
	for _, g := range orgs {
		role := g.Role
		if g.Status == model.MemberInvited {
			role += " (invited: org member accept " + g.Slug + ")"
		}
		t.AddRow(g.Slug, g.Name, role)
	}
	return t.Render(o.F.IOStreams)
}

type ShowOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
}

func NewCmdShow(f *cmdutil.Factory, runF func(*ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{F: f}
	return &cobra.Command{
		Use:               "show SLUG",
		Short:             "Show an organization: members, scopes, policy",
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
			return showRun(opts)
		},
	}
}

func showRun(o *ShowOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	d, err := c.GetOrg(o.F.Context, o.Slug)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, d)
	}
	t := &output.Table{Header: []string{"FIELD", "VALUE"}}
	t.AddRow("slug", d.Slug)
	t.AddRow("name", d.Name)
	t.AddRow("your role", d.Role)
	t.AddRow("members", fmt.Sprint(d.Members))
	t.AddRow("namespaces", listOrDash(d.Namespaces))
	t.AddRow("created_at", d.CreatedAt.UTC().Format(time.RFC3339))
	policyRows(t, d.Policy)
	return t.Render(o.F.IOStreams)
}

type DeleteOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
	Yes    bool
}

func NewCmdDelete(f *cmdutil.Factory, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{F: f}
	cmd := &cobra.Command{
		Use:   "delete SLUG",
		Short: "Delete an organization (owners; asks first on a terminal)",
		Long: `Delete an organization: its memberships, scope claims and policy go; packages
handed to it return to their publishers; its audit events stay. Owners only.
Without a terminal, --yes is required.`,
		Args:              cmdutil.ExactArgs(1, "one organization slug"),
		ValidArgsFunction: completeSlugThen(f, nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			opts.Format, opts.Slug = format, args[0]
			if err := confirm(f.IOStreams, opts.Yes, fmt.Sprintf("Delete the organization %s?", opts.Slug), "delete an organization"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func deleteRun(o *DeleteOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	if err := c.DeleteOrg(o.F.Context, o.Slug); err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, map[string]any{"slug": o.Slug, "deleted": true})
	}
	fmt.Fprintf(o.F.IOStreams.ErrOut, "Deleted organization %s.\n", o.Slug)
	return nil
}
