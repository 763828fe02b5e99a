// Package health is `codesync-cli health`.
package health

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/output"
)

type Options struct {
	F      *cmdutil.Factory
	Format string
}

func NewCmdHealth(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	return &cobra.Command{
		Use:         "health",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Check the server's health (exit 0 ok, 1 degraded)",
		Long: `Ask the server how it is: "ok", or "degraded" when failed sign-ins in the last
hour reached the server's threshold. Exit 0 for ok, 1 for degraded, 9 when the
server cannot be reached. Needs no credential.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format = format
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
}

func run(o *Options) error {
	c, err := o.F.AnonymousClient()
	if err != nil {
		return err
	}
	h, err := c.Health(o.F.Context)
	if err != nil {
		return err
	}
	ios := o.F.IOStreams
	if o.Format == output.FormatJSON {
		if err := output.JSON(ios, h); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(ios.Out, "status: %s\nfailed logins (last hour): %d (degraded at %d)\nserver: %s\n", h.Status, h.FailedLoginsLastHour, h.FailedLoginThreshold, c.BaseURL())
	}
	if h.Status != "ok" {
		return &cmdutil.ExitError{Code: cmdutil.ExitFailure, ErrCode: "degraded", Msg: fmt.Sprintf("the server reports %s: %d failed logins in the last hour", h.Status, h.FailedLoginsLastHour)}
	}
	return nil
}
