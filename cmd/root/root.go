// Package root assembles the command tree.
package root

import (
	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/cmd/audit"
	"github.com/codesync/codesync-cli/cmd/authcmd"
	"github.com/codesync/codesync-cli/cmd/configcmd"
	"github.com/codesync/codesync-cli/cmd/health"
	"github.com/codesync/codesync-cli/cmd/jwtcmd"
	"github.com/codesync/codesync-cli/cmd/key"
	"github.com/codesync/codesync-cli/cmd/org"
	"github.com/codesync/codesync-cli/cmd/scan"
	"github.com/codesync/codesync-cli/cmd/servercmd"
	"github.com/codesync/codesync-cli/cmd/trustedpublisher"
	"github.com/codesync/codesync-cli/cmd/version"
	"github.com/codesync/codesync-cli/cmd/webhook"
	"github.com/codesync/codesync-cli/pkg/build"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/output"
)

// NewCmdRoot returns the root command with every subcommand attached.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	info := build.Get()
	cmd := &cobra.Command{
		Use:   "codesync-cli <command> <subcommand> [flags]",
		Short: "Manage CodeSync sessions, API keys and audit exports",
		Long: `codesync-cli logs you in to CodeSync, manages scoped, expiring API keys for
pipelines, exports key metadata for audits, and runs a reference server.`,
		Example: `  $ codesync-cli login
  $ codesync-cli key create ci-publish --scopes registry:publish --expires 30d
  $ codesync-cli key list -o json`,
		Version:       info.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if f.Flags.NoColor {
				f.IOStreams.SetNoColor()
			}
			// -o and --jq are checked against what this command prints,
			// before anything else happens
			// (a command that declares no formats prints no data: table or
			// json, which only shapes its errors)
			if cmd.Name() != cobra.ShellCompRequestCmd && cmd.Name() != cobra.ShellCompNoDescRequestCmd {
				if _, err := cmdutil.OutputFormatFor(f, cmd); err != nil {
					return err
				}
			}
			if f.Flags.JQ != "" {
				if _, err := output.CompileJQ(f.Flags.JQ); err != nil {
					return cmdutil.UsageErrorf("%s", err)
				}
				f.IOStreams.SetJQ(f.Flags.JQ)
			}
			return nil
		},
	}
	cmd.SetVersionTemplate("codesync-cli version {{.Version}}\n")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.UsageErrorf("%s (see '%s --help')", err, c.CommandPath())
	})
	cmd.CompletionOptions.HiddenDefaultCmd = false

	pf := cmd.PersistentFlags()
	g := f.Flags
	pf.StringVar(&g.Server, "server", "", "API base URL (env CODESYNC_SERVER, default https://api.codesync.de)")
	pf.StringVar(&g.Profile, "profile", "", "configuration profile (env CODESYNC_PROFILE, default \"default\")")
	pf.StringVarP(&g.Output, "output", "o", "", "output format: table, json; some commands add ndjson, csv (see each command's --help)")
	pf.StringVar(&g.JQ, "jq", "", "filter JSON output with a jq expression (implies -o json)")
	pf.BoolVar(&g.NoColor, "no-color", false, "disable colour (also NO_COLOR)")
	pf.BoolVar(&g.Debug, "debug", false, "trace HTTP requests to stderr, secrets redacted")
	pf.StringVar(&g.Config, "config", "", "config file (default $CODESYNC_CONFIG_DIR/config.yaml, then ~/.config/codesync/config.yaml)")
	pf.StringVar(&g.Timeout, "timeout", "", "timeout per request (default 30s)")
	pf.StringVar(&g.ClientCert, "client-cert", "", "client certificate (PEM) for mutual TLS")
	pf.StringVar(&g.ClientKey, "client-key", "", "client certificate's private key (PEM)")
	pf.StringVar(&g.CACert, "ca-cert", "", "CA certificate (PEM) to trust for the server")

	// -o completes to exactly the formats of the command being completed
	_ = cmd.RegisterFlagCompletionFunc("output", func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		formats, _ := cmdutil.SupportedOutputs(c)
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
	for _, name := range []string{"config", "client-cert", "client-key", "ca-cert"} {
		_ = cmd.MarkPersistentFlagFilename(name)
	}
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		cfg, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return cfg.File.ProfileNames(), cobra.ShellCompDirectiveNoFileComp
	})

	cmd.AddCommand(
		configcmd.NewCmdConfig(f),
		version.NewCmdVersion(f, nil),
		authcmd.NewCmdLogin(f, nil),
		authcmd.NewCmdLogout(f, nil),
		authcmd.NewCmdAuth(f),
		key.NewCmdKey(f),
		audit.NewCmdAudit(f),
		health.NewCmdHealth(f, nil),
		jwtcmd.NewCmdJWT(f),
		org.NewCmdOrg(f),
		trustedpublisher.NewCmdTrustedPublisher(f),
		servercmd.NewCmdServer(f, nil),
		scan.NewCmdScan(f, nil),
		webhook.NewCmdWebhook(f),
	)
	// help topics: `codesync-cli help environment`, `help exit-codes`
	for _, t := range HelpTopics() {
		cmd.AddCommand(newCmdHelpTopic(t))
	}
	withCompletionHelp(cmd)
	cmd.SetHelpCommand(newCmdHelp())
	cmdutil.RefuseUnknownSubcommands(cmd)
	cmdutil.CompletionFlagDefaults(cmd)
	return cmd
}
