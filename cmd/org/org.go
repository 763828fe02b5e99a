// Package org is `codesync-cli org …`: organizations, their members and
// roles, their policy over members' keys, and the npm scopes they own.
package org

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/orgpolicy"
	"github.com/codesync/codesync-cli/pkg/output"
)

func NewCmdOrg(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "org <command>",
		Short: "Organizations: members, roles, owned npm scopes, key policies",
		Long: `An organization has members with one role each (owner, admin, member, auditor),
owns npm scopes (@acme-corp), and sets a policy for its members' keys that reach
those scopes: maximum lifetime, allowed scopes, required CIDRs, maximum keys per
member. Reading needs the scope orgs:read, changing orgs:write.`,
		Example: `  $ codesync-cli org create acme-corp --name "Acme Corp"
  $ codesync-cli org member add acme-corp alice --role admin
  $ codesync-cli org namespace claim acme-corp @acme-corp
  $ codesync-cli org policy set acme-corp --max-lifetime 30d --required-cidrs 10.0.0.0/8`,
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdList(f, nil),
		NewCmdShow(f, nil),
		NewCmdDelete(f, nil),
		NewCmdMember(f),
		NewCmdPolicy(f),
		NewCmdNamespace(f),
	)
	// every org command prints table or JSON (formatOf): declared, so that
	// -o is checked and completed per command
	var declare func(c *cobra.Command)
	declare = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			declare(sub)
		}
		if c.Runnable() && c.Annotations == nil {
			c.Annotations = cmdutil.Outputs(output.FormatTable, output.FormatJSON)
		}
	}
	declare(cmd)
	return cmd
}

// completeSlugThen completes the organization slug as the first argument,
// then whatever next offers (nil: nothing).
func completeSlugThen(f *cmdutil.Factory, next func(slug, toComplete string) []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		switch {
		case len(args) == 0:
			return cmdutil.OrgSlugs(f, toComplete), cobra.ShellCompDirectiveNoFileComp
		case len(args) == 1 && next != nil:
			return next(args[0], toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func completeMembers(f *cmdutil.Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeSlugThen(f, func(slug, toComplete string) []string { return cmdutil.OrgMembers(f, slug, toComplete) })
}

// confirm asks on a terminal; without one, yes must be given.
func confirm(ios *iostreams.IOStreams, yes bool, question, what string) error {
	if yes {
		return nil
	}
	if !ios.CanPrompt() {
		return cmdutil.UsageErrorf("refusing to %s without confirmation: pass --yes (no terminal to ask on)", what)
	}
	ok, err := ios.Confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return iostreams.ErrCancelled
	}
	return nil
}

func formatOf(f *cmdutil.Factory) (string, error) {
	return cmdutil.OutputFormat(f, output.FormatTable, output.FormatJSON)
}

func listOrDash(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ", ")
}

// policyRows describes a policy for people.
func policyRows(t *output.Table, p model.OrgPolicy) {
	life := "-"
	if p.MaxLifetimeSeconds != nil {
		life = orgpolicy.FormatDuration(time.Duration(*p.MaxLifetimeSeconds) * time.Second)
	}
	scopes := "any"
	if p.AllowedScopes != nil {
		scopes = listOrDash(p.AllowedScopes)
	}
	cidrs := "any"
	if p.RequiredCIDRs != nil {
		cidrs = listOrDash(p.RequiredCIDRs)
	}
	keys := "-"
	if p.MaxKeys != nil {
		keys = fmt.Sprint(*p.MaxKeys)
	}
	audit := "off"
	if p.AuditTokenUsed {
		audit = "on"
	}
	t.AddRow("max-lifetime", life)
	t.AddRow("allowed-scopes", scopes)
	t.AddRow("required-cidrs", cidrs)
	t.AddRow("max-keys", keys)
	t.AddRow("audit-token-used", audit)
}
