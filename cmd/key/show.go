package key

import (
	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/output"
)

type ShowOptions struct {
	F      *cmdutil.Factory
	Format string
	ID     string
}

func NewCmdShow(f *cmdutil.Factory, runF func(*ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{F: f}
	return &cobra.Command{
		Use:               "show ID|NAME",
		Long:              "Show one API key, by its ID or by its name where that is unique.",
		Annotations:       cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:             "Show one API key",
		Args:              cmdutil.KeyIDArgs(cmdutil.ExactArgs(1, "one key ID or name"), 0),
		ValidArgsFunction: completeKeyIDs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format, opts.ID = format, args[0]
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
	k, err := resolveKey(o.F.Context, c, o.ID)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, k)
	}
	return describeKey(o.F, *k)
}
