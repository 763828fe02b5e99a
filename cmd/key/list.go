package key

import (
	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/output"
)

type ListOptions struct {
	F      *cmdutil.Factory
	Format string
	All    bool
}

func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	cmd := &cobra.Command{
		Use:         "list",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Aliases:     []string{"ls"},
		Short:       "List your API keys (--all adds expired and revoked ones)",
		Long: `List your active API keys. Keys expiring within 14 days are highlighted and
have the status "expiring". --all adds expired and revoked keys.`,
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
			return listRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "include expired and revoked keys")
	return cmd
}

func listRun(o *ListOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	keys, err := api.Collect(c.Keys(o.F.Context, o.All))
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, keys)
	}
	if len(keys) == 0 {
		o.F.IOStreams.ErrOut.Write([]byte("No keys. Create one with 'codesync-cli key create NAME'.\n"))
		return nil
	}
	t := &output.Table{Header: keyHeader}
	now := o.F.Now()
	for _, k := range keys {
		addKeyRow(t, now, k)
	}
	return t.Render(o.F.IOStreams)
}
