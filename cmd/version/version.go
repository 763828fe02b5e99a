// Package version is `codesync-cli version`.
package version

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/build"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/output"
)

type Options struct {
	F      *cmdutil.Factory
	Format string
}

func NewCmdVersion(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	return &cobra.Command{
		Use:         "version",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Show the version, commit and build date",
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
			return run(opts)
		},
	}
}

func run(o *Options) error {
	info := build.Get()
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, struct {
			build.Info
			Go string `json:"go"`
		}{info, runtime.Version()})
	}
	fmt.Fprintf(o.F.IOStreams.Out, "codesync-cli version %s (commit %s, built %s, %s)\n", info.Version, info.Commit, info.Date, runtime.Version())
	return nil
}
