package org

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/output"
)

func NewCmdNamespace(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "namespace <command>",
		Short: "Claim or release npm scopes for an organization",
		Long: `An npm scope (@acme-corp) has one owner. Once an organization claims it, only
its members (not auditors) publish into it, with a credential whose namespaces
allow it; publishing from another organization is refused (insufficient_scope).
Claiming and releasing need the scope npm:scope:write and an owner or admin.`,
	}
	cmd.AddCommand(NewCmdNamespaceClaim(f, nil), NewCmdNamespaceRelease(f, nil))
	return cmd
}

type NamespaceOptions struct {
	F       *cmdutil.Factory
	Format  string
	Slug    string
	Scope   string
	Release bool
}

func newNamespaceCmd(f *cmdutil.Factory, runF func(*NamespaceOptions) error, release bool) *cobra.Command {
	opts := &NamespaceOptions{F: f, Release: release}
	use, short := "claim SLUG @scope", "Claim an npm scope for the organization (owners, admins)"
	if release {
		use, short = "release SLUG @scope", "Give up the organization's npm scope (owners, admins)"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cmdutil.ExactArgs(2, "an organization slug and an npm scope (@scope)"),
		ValidArgsFunction: completeSlugThen(f, func(slug, toComplete string) []string {
			if release {
				return cmdutil.OrgNamespaces(f, slug)
			}
			return []string{"@" + slug}
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			ns, err := keyrules.CheckNamespaces([]string{args[1]})
			if err != nil || len(ns) != 1 || strings.Contains(args[1], "/") {
				return cmdutil.UsageErrorf("invalid scope %q: use @scope (lower case), without a package name", args[1])
			}
			opts.Format, opts.Slug, opts.Scope = format, args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return namespaceRun(opts)
		},
	}
}

func NewCmdNamespaceClaim(f *cmdutil.Factory, runF func(*NamespaceOptions) error) *cobra.Command {
	return newNamespaceCmd(f, runF, false)
}

func NewCmdNamespaceRelease(f *cmdutil.Factory, runF func(*NamespaceOptions) error) *cobra.Command {
	return newNamespaceCmd(f, runF, true)
}

func namespaceRun(o *NamespaceOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	if o.Release {
		if err := c.ReleaseNamespace(o.F.Context, o.Slug, o.Scope); err != nil {
			return err
		}
		if o.Format == output.FormatJSON {
			return output.JSON(o.F.IOStreams, map[string]any{"scope": o.Scope, "org": o.Slug, "released": true})
		}
		fmt.Fprintf(o.F.IOStreams.ErrOut, "Released %s: %s no longer owns it.\n", o.Scope, o.Slug)
		return nil
	}
	ns, err := c.ClaimNamespace(o.F.Context, o.Slug, o.Scope)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, ns)
	}
	fmt.Fprintf(o.F.IOStreams.ErrOut, "Claimed %s for %s.\n", ns.Scope, ns.Org)
	return nil
}
