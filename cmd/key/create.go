package key

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
)

type CreateOptions struct {
	F       *cmdutil.Factory
	Format  string
	Request model.CreateKeyRequest
}

func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{F: f}
	var scopes, expires, cidrs, namespaces, env string
	cmd := &cobra.Command{
		Use:         "create NAME",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Create an API key; its token is shown once",
		Long: `Create an API key. The token is printed once, on stdout; store it now (for
example in your CI system's secret store), it cannot be shown again.

Scopes: ` + joinScopes() + `.
--expires takes Nh, Nd, Nw or a Go duration, from 1h to 365d (default 90d).
--env production (or prod) makes a csy_prod_ key, --env sandbox (or dev) a csy_dev_
key with sandbox limits.

A key never gets more than the credential that creates it: its scopes, namespaces
and CIDRs lie inside the creator's, a csy_dev_ key creates only csy_dev_ keys, and
it expires no later than the creating API key or JWT. Without --env, --namespace
or --cidr the key takes the creator's; the default lifetime is cut to the
creator's. Asking for more is refused (exit 5) with a message naming the limit.`,
		Example: `  $ codesync-cli key create ci-publish --scopes registry:read,registry:publish --expires 30d
  $ codesync-cli key create deploy --scopes registry:publish --namespace @acme --cidr 203.0.113.0/24 -o json`,
		Args: cmdutil.ExactArgs(1, "one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format = format
			r := &opts.Request
			r.Name = args[0]
			if r.Name == "" || len(r.Name) > 64 {
				return cmdutil.UsageErrorf("invalid name %q: 1 to 64 characters", r.Name)
			}
			if r.Scopes, err = keyrules.ParseScopes(scopes); err != nil {
				return cmdutil.UsageErrorf("%s", err)
			}
			d, err := keyrules.ParseExpiry(expires)
			if err != nil {
				return cmdutil.UsageErrorf("%s", err)
			}
			if cmd.Flags().Changed("expires") {
				// else the server's default, cut to the creating credential's expiry
				r.ExpiresIn = int64(d.Seconds())
			}
			if r.CIDRs, err = keyrules.ParseCIDRs(cidrs); err != nil {
				return cmdutil.UsageErrorf("%s", err)
			}
			if r.Namespaces, err = keyrules.ParseNamespaces(namespaces); err != nil {
				return cmdutil.UsageErrorf("%s", err)
			}
			if env != "" {
				e, ok := model.ParseEnvironment(env)
				if !ok {
					return cmdutil.UsageErrorf("invalid --env %q: use production or sandbox (prod, dev)", env)
				}
				r.Environment = e
			}
			if runF != nil {
				return runF(opts)
			}
			return createRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&scopes, "scopes", "registry:read", "comma-separated scopes")
	fl.StringVar(&expires, "expires", "90d", "lifetime: Nh, Nd, Nw or a Go duration (1h to 365d)")
	fl.StringVar(&cidrs, "cidr", "", "comma-separated networks the key may be used from")
	fl.StringVar(&namespaces, "namespace", "", "comma-separated package scopes the key may publish to (@org or @org/name)")
	fl.StringVar(&env, "env", "", "production (csy_prod_) or sandbox (csy_dev_); prod and dev work too")
	_ = cmd.RegisterFlagCompletionFunc("scopes", cmdutil.CompleteScopes)
	_ = cmd.RegisterFlagCompletionFunc("expires", cobra.FixedCompletions([]string{"30d", "90d", "180d", "365d"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("cidr", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("namespace", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("env", cobra.FixedCompletions([]string{model.EnvProduction, model.EnvSandbox}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func joinScopes() string {
	s := ""
	for i, sc := range keyrules.Scopes {
		if i > 0 {
			s += ", "
		}
		s += sc
	}
	return s
}

func createRun(o *CreateOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	k, err := c.CreateKey(o.F.Context, o.Request)
	if err != nil {
		return err
	}
	ios := o.F.IOStreams
	if o.Format == output.FormatJSON {
		return output.JSON(ios, k)
	}
	fmt.Fprintf(ios.ErrOut, "Created key %s (%s), %s, expires %s.\n", k.Name, k.ID, k.Environment, output.RelativeTime(o.F.Now(), k.ExpiresAt))
	fmt.Fprintln(ios.Out, k.Token)
	fmt.Fprintln(ios.ErrOut, "Store this token now: it will not be shown again.")
	return nil
}
