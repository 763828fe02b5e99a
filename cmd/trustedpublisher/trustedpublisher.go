// Package trustedpublisher is `codesync-cli trusted-publisher`: which CI
// identities may publish into a namespace without any stored secret.
package trustedpublisher

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

func NewCmdTrustedPublisher(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trusted-publisher <command>",
		Short: "Let CI jobs publish with their OpenID identity, no stored secret",
		Long: `A trusted publisher names a CI identity (a GitHub Actions workflow, a GitLab
CI project, or claims of another OpenID Connect issuer the server trusts) that
may exchange its ID token for a CodeSync token: registry:publish and
registry:read on the publisher's namespace, for 15 minutes. In the CI job,
codesync-cli exchanges by itself when CODESYNC_AUTH_TOKEN is unset (see
docs/trusted-publishing.md).

Adding and removing need the owner of the npm scope, or an owner or admin of
the organization that owns it, with a credential holding registry:publish
and registry:read on the namespace.`,
	}
	cmd.AddCommand(NewCmdAdd(f, nil), NewCmdList(f, nil), NewCmdRemove(f, nil))
	return cmd
}

// formats are what every trusted-publisher command prints (-o)
func formats() map[string]string { return cmdutil.Outputs(output.FormatTable, output.FormatJSON) }

type AddOptions struct {
	F      *cmdutil.Factory
	Format string
	Flags  trustedpub.Flags
}

func NewCmdAdd(f *cmdutil.Factory, runF func(*AddOptions) error) *cobra.Command {
	opts := &AddOptions{F: f}
	cmd := &cobra.Command{
		Use:         "add @scope[/name] (--github OWNER/REPO --workflow FILE | --gitlab GROUP/PROJECT | --issuer URL --claim K=V...)",
		Short:       "Trust a CI identity to publish into a namespace",
		Annotations: formats(),
		Long: `Trust a CI identity to publish into @scope (every package of the scope) or
@scope/name (that package only).

  --github OWNER/REPO --workflow FILE   GitHub Actions: the repository and the
                                        workflow file in .github/workflows
  --gitlab GROUP/PROJECT                GitLab CI (gitlab.com; add --issuer URL
                                        for a self-managed GitLab)
  --issuer URL --claim K=V...           another issuer the server trusts: every
                                        claim must be in the ID token as given

--environment NAME requires the job's deployment environment (use it: its
protection rules then gate publishing); --ref REF requires the ref
(GitHub: refs/heads/BRANCH or refs/tags/TAG; GitLab: the bare name).`,
		Example: `  $ codesync-cli trusted-publisher add @acme --github acme/widgets --workflow release.yml --environment release
  $ codesync-cli trusted-publisher add @acme/widgets --gitlab acme/widgets --ref main
  $ codesync-cli trusted-publisher add @acme --issuer https://ci.example.com --claim sub=pipeline:acme/tool:main`,
		Args: cmdutil.ExactArgs(1, "one namespace (@scope or @scope/name)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			ns, err := keyrules.CheckNamespaces([]string{args[0]})
			if err != nil || len(ns) != 1 {
				return cmdutil.UsageErrorf("invalid namespace %q: use @scope or @scope/name (lower case)", args[0])
			}
			opts.Format, opts.Flags.Namespace = format, ns[0]
			if _, err := opts.Flags.Publisher(); err != nil {
				return cmdutil.UsageErrorf("%s", err)
			}
			if opts.Flags.Issuer != "" {
				if err := trustedpub.CheckIssuerURL(opts.Flags.Issuer); err != nil {
					return cmdutil.UsageErrorf("%s", err)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return addRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Flags.GitHub, "github", "", "GitHub repository OWNER/REPO")
	fl.StringVar(&opts.Flags.Workflow, "workflow", "", "GitHub workflow file in .github/workflows, e.g. release.yml")
	fl.StringVar(&opts.Flags.GitLab, "gitlab", "", "GitLab project GROUP/PROJECT")
	fl.StringVar(&opts.Flags.Issuer, "issuer", "", "ID token issuer URL (another issuer, a self-managed GitLab or GitHub Enterprise Server)")
	fl.StringArrayVar(&opts.Flags.Claims, "claim", nil, "claim K=V the ID token must carry (with --issuer; repeatable)")
	fl.StringVar(&opts.Flags.Environment, "environment", "", "deployment environment the job must run in")
	fl.StringVar(&opts.Flags.Ref, "ref", "", "git ref the job must run for")
	cmd.MarkFlagsMutuallyExclusive("github", "gitlab")
	return cmd
}

func addRun(o *AddOptions) error {
	p, err := o.Flags.Publisher()
	if err != nil {
		return cmdutil.UsageErrorf("%s", err)
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	out, err := c.AddTrustedPublisher(o.F.Context, model.TrustedPublisherRequest{
		Namespaces: p.Namespaces, Provider: string(p.Provider), Issuer: p.Issuer, Repository: p.Repository,
		Workflow: p.Workflow, Environment: p.Environment, Ref: p.Ref, Claims: p.Claims,
	})
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, out)
	}
	fmt.Fprintf(o.F.IOStreams.ErrOut, "Trusted %s to publish into %s.\n", out.Describe(), strings.Join(out.Namespaces, ", "))
	fmt.Fprintln(o.F.IOStreams.Out, out.ID)
	return nil
}

type ListOptions struct {
	F      *cmdutil.Factory
	Format string
}

func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	return &cobra.Command{
		Use:         "list",
		Aliases:     []string{"ls"},
		Annotations: formats(),
		Short:       "List the trusted publishers of your scopes and your organizations' scopes",
		Args:        cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
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
	ps, err := c.TrustedPublishers(o.F.Context)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, ps)
	}
	if len(ps) == 0 {
		fmt.Fprintln(o.F.IOStreams.ErrOut, "No trusted publishers.")
		return nil
	}
	t := &output.Table{Header: []string{"ID", "NAMESPACES", "PROVIDER", "IDENTITY", "CREATED BY", "CREATED"}}
	for _, p := range ps {
		t.AddRow(p.ID, strings.Join(p.Namespaces, ","), string(p.Provider), p.Describe(), p.CreatedBy, output.RelativeTime(o.F.Now(), p.CreatedAt))
	}
	return t.Render(o.F.IOStreams)
}

type RemoveOptions struct {
	F      *cmdutil.Factory
	Format string
	ID     string
}

func NewCmdRemove(f *cmdutil.Factory, runF func(*RemoveOptions) error) *cobra.Command {
	opts := &RemoveOptions{F: f}
	return &cobra.Command{
		Use:         "remove ID",
		Aliases:     []string{"rm"},
		Annotations: formats(),
		Short:       "Stop trusting a publisher; the tokens it obtained stop working",
		Args:        cmdutil.ExactArgs(1, "one trusted publisher ID (see 'trusted-publisher list')"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return publisherIDs(f, toComplete), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(args[0], "tp_") {
				return cmdutil.UsageErrorf("invalid trusted publisher ID %q: IDs start with tp_ (see 'trusted-publisher list')", args[0])
			}
			opts.Format, opts.ID = format, args[0]
			if runF != nil {
				return runF(opts)
			}
			return removeRun(opts)
		},
	}
}

func removeRun(o *RemoveOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	if err := c.RemoveTrustedPublisher(o.F.Context, o.ID); err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, map[string]any{"id": o.ID, "removed": true})
	}
	fmt.Fprintf(o.F.IOStreams.ErrOut, "Removed trusted publisher %s.\n", o.ID)
	return nil
}

// publisherIDs completes IDs as "ID\tNAMESPACES IDENTITY"; nothing when the
// server cannot be asked quickly.
func publisherIDs(f *cmdutil.Factory, prefix string) []string {
	return cmdutil.CompleteWithin(func(ctx context.Context) []string {
		c, err := f.APIClient()
		if err != nil {
			return nil
		}
		ps, err := c.TrustedPublishers(ctx)
		if err != nil {
			return nil
		}
		var out []string
		for _, p := range ps {
			if strings.HasPrefix(p.ID, prefix) {
				out = append(out, p.ID+"\t"+strings.Join(p.Namespaces, ",")+" "+p.Describe())
			}
		}
		return out
	})
}
