// Package configcmd is `codesync-cli config get|set|list`.
package configcmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/config"
	"github.com/codesync/codesync-cli/pkg/output"
)

func NewCmdConfig(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config <command>",
		Short: "Read and change settings",
		Long: `Read and change settings of config.yaml.

Keys: ` + strings.Join(config.Keys, ", ") + `.
Every key but current_profile belongs to the current profile. 'get' and 'list'
show the effective value after flags and environment, and where it came from.`,
	}
	cmd.AddCommand(NewCmdGet(f, nil), NewCmdSet(f, nil), NewCmdList(f, nil))
	return cmd
}

type GetOptions struct {
	F      *cmdutil.Factory
	Key    string
	Format string
}

func NewCmdGet(f *cmdutil.Factory, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{F: f}
	return &cobra.Command{
		Use:         "get KEY",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Print the effective value of a setting",
		Args:        cmdutil.ExactArgs(1, "one KEY"),
		ValidArgs:   config.Keys,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format = format
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
}

func getRun(o *GetOptions) error {
	if !config.KnownKey(o.Key) {
		return cmdutil.UsageErrorf("unknown config key %q: known keys are %s", o.Key, strings.Join(config.Keys, ", "))
	}
	cfg, err := o.F.Config()
	if err != nil {
		return err
	}
	v, _ := cfg.Get(o.Key)
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, v)
	}
	fmt.Fprintln(o.F.IOStreams.Out, v.Value)
	if o.F.IOStreams.IsStderrTTY() {
		fmt.Fprintf(o.F.IOStreams.ErrOut, "(from %s)\n", v.Source)
	}
	return nil
}

type SetOptions struct {
	F          *cmdutil.Factory
	Key, Value string
}

func NewCmdSet(f *cmdutil.Factory, runF func(*SetOptions) error) *cobra.Command {
	opts := &SetOptions{F: f}
	return &cobra.Command{
		Use:       "set KEY VALUE",
		Short:     "Store a setting in the config file",
		Args:      cmdutil.ExactArgs(2, "KEY and VALUE"),
		ValidArgs: config.Keys,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key, opts.Value = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return setRun(opts)
		},
	}
}

func setRun(o *SetOptions) error {
	cfg, err := o.F.Config()
	if err != nil {
		return err
	}
	if err := cfg.Set(o.Key, o.Value); err != nil {
		return cmdutil.UsageErrorf("%s", err)
	}
	return cfg.File.Save()
}

type ListOptions struct {
	F      *cmdutil.Factory
	Format string
}

func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	return &cobra.Command{
		Use:         "list",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Show every setting, its effective value and where it came from",
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
	cfg, err := o.F.Config()
	if err != nil {
		return err
	}
	vals := cfg.List()
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, vals)
	}
	t := &output.Table{Header: []string{"KEY", "VALUE", "SOURCE"}}
	for _, v := range vals {
		t.AddRow(v.Key, v.Value, string(v.Source))
	}
	return t.Render(o.F.IOStreams)
}
