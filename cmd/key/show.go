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
		Use:               "show ID",
		Short:             "Show one API key",
		Args:              cmdutil.KeyIDArgs(cmdutil.ExactArgs(1, "one key ID"), 0),
		ValidArgsFunction: completeKeyIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormat(f, output.FormatTable, output.FormatJSON)
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
	k, err := c.GetKey(o.F.Context, o.ID)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, k)
	}
	return describeKey(o.F, *k)
}
