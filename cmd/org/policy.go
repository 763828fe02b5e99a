package org

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/orgpolicy"
	"github.com/codesync/codesync-cli/pkg/output"
)

func NewCmdPolicy(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy <command>",
		Short: "Show or set the policy for members' keys",
		Long: `An organization's policy bounds every key of its members that reaches its
scopes (a key without --namespace reaches them all): maximum lifetime, allowed
scopes, required CIDR allow-list, maximum active keys per member (at most 12).
A key create or rotate that breaks it is refused with policy_violation (exit 5);
tightening it marks the existing keys that break it (policy_violations in key
JSON, a marker in tables) and revokes nothing.`,
	}
	cmd.AddCommand(NewCmdPolicyShow(f, nil), NewCmdPolicySet(f, nil))
	return cmd
}

type PolicyShowOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
}

func NewCmdPolicyShow(f *cmdutil.Factory, runF func(*PolicyShowOptions) error) *cobra.Command {
	opts := &PolicyShowOptions{F: f}
	return &cobra.Command{
		Use:               "show SLUG",
		Short:             "Show an organization's policy",
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
			return policyShowRun(opts)
		},
	}
}

func policyShowRun(o *PolicyShowOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	p, err := c.OrgPolicy(o.F.Context, o.Slug)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, p)
	}
	t := &output.Table{Header: []string{"SETTING", "VALUE"}}
	policyRows(t, *p)
	return t.Render(o.F.IOStreams)
}

type PolicySetOptions struct {
	F      *cmdutil.Factory
	Format string
	Slug   string
	Update model.OrgPolicyUpdate
}

func NewCmdPolicySet(f *cmdutil.Factory, runF func(*PolicySetOptions) error) *cobra.Command {
	opts := &PolicySetOptions{F: f}
	var life, scopes, cidrs, maxKeys, audit string
	cmd := &cobra.Command{
		Use:   "set SLUG",
		Short: "Change an organization's policy (owners); an empty value clears a setting",
		Long: `Change the settings given; the others stay. An empty value clears a setting
(--max-lifetime "" lifts the limit). Tightening marks the existing keys that
break the policy; the command says how many. Owners only.`,
		Example: `  $ codesync-cli org policy set acme-corp --max-lifetime 30d --allowed-scopes registry:read,registry:publish
  $ codesync-cli org policy set acme-corp --required-cidrs 10.0.0.0/8 --max-keys 3 --audit-token-used on
  $ codesync-cli org policy set acme-corp --max-lifetime ""`,
		Args:              cmdutil.ExactArgs(1, "one organization slug"),
		ValidArgsFunction: completeSlugThen(f, nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := formatOf(f)
			if err != nil {
				return err
			}
			opts.Format, opts.Slug = format, args[0]
			u := &opts.Update
			fl := cmd.Flags()
			clear := func(name string) { u.Clear = append(u.Clear, name) }
			if fl.Changed("max-lifetime") {
				if life == "" {
					clear("max_lifetime")
				} else {
					d, err := keyrules.ParseExpiry(life)
					if err != nil {
						return cmdutil.UsageErrorf("invalid --max-lifetime: %s", err)
					}
					secs := int64(d.Seconds())
					u.MaxLifetimeSeconds = &secs
				}
			}
			if fl.Changed("allowed-scopes") {
				if scopes == "" {
					clear("allowed_scopes")
				} else if u.AllowedScopes, err = keyrules.ParseScopes(scopes); err != nil {
					return cmdutil.UsageErrorf("invalid --allowed-scopes: %s", err)
				}
			}
			if fl.Changed("required-cidrs") {
				if cidrs == "" {
					clear("required_cidrs")
				} else if u.RequiredCIDRs, err = keyrules.ParseCIDRs(cidrs); err != nil {
					return cmdutil.UsageErrorf("invalid --required-cidrs: %s", err)
				}
			}
			if fl.Changed("max-keys") {
				if maxKeys == "" {
					clear("max_keys")
				} else {
					n, err := strconv.Atoi(maxKeys)
					if err != nil || n < 1 || n > orgpolicy.MaxKeysCeiling {
						return cmdutil.UsageErrorf("invalid --max-keys %q: a number from 1 to %d", maxKeys, orgpolicy.MaxKeysCeiling)
					}
					u.MaxKeys = &n
				}
			}
			if fl.Changed("audit-token-used") {
				var on bool
				switch audit {
				case "on":
					on = true
				case "off", "":
				default:
					return cmdutil.UsageErrorf("invalid --audit-token-used %q: on or off", audit)
				}
				u.AuditTokenUsed = &on
			}
			if u.MaxLifetimeSeconds == nil && u.AllowedScopes == nil && u.RequiredCIDRs == nil && u.MaxKeys == nil && u.AuditTokenUsed == nil && len(u.Clear) == 0 {
				return cmdutil.UsageErrorf("nothing to change: give at least one setting (see '%s --help')", cmd.CommandPath())
			}
			if runF != nil {
				return runF(opts)
			}
			return policySetRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&life, "max-lifetime", "", "longest key lifetime (Nh, Nd, Nw; 1h to 365d)")
	fl.StringVar(&scopes, "allowed-scopes", "", "scopes members' keys may hold, comma-separated")
	fl.StringVar(&cidrs, "required-cidrs", "", "networks every key's CIDRs must lie inside, comma-separated")
	fl.StringVar(&maxKeys, "max-keys", "", "active keys per member reaching the organization (1 to 12)")
	fl.StringVar(&audit, "audit-token-used", "", "show members' token:used events in the organization's log: on or off")
	_ = cmd.RegisterFlagCompletionFunc("allowed-scopes", cmdutil.CompleteScopes)
	_ = cmd.RegisterFlagCompletionFunc("audit-token-used", cobra.FixedCompletions([]string{"on", "off"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func policySetRun(o *PolicySetOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	res, err := c.SetOrgPolicy(o.F.Context, o.Slug, o.Update)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, res)
	}
	t := &output.Table{Header: []string{"SETTING", "VALUE"}}
	policyRows(t, res.Policy)
	if err := t.Render(o.F.IOStreams); err != nil {
		return err
	}
	if res.KeysViolating > 0 {
		fmt.Fprintf(o.F.IOStreams.ErrOut, "warning: %d existing keys break this policy (marked, not revoked); see 'codesync-cli key audit-export --org %s'\n", res.KeysViolating, o.Slug)
	}
	return nil
}
