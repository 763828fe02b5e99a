package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"
)

// ExactArgs is cobra.ExactArgs with a usage error (exit 2).
func ExactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return UsageErrorf("%s takes %s (see '%s --help')", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

// MinimumArgs requires at least n arguments.
func MinimumArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return UsageErrorf("%s needs %s (see '%s --help')", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

// NoArgs refuses arguments.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return UsageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// OutputFormat returns the -o format for this command, refusing formats the
// command does not offer.
func OutputFormat(f *Factory, allowed ...string) (string, error) {
	format := f.Flags.Output
	if format == "" {
		if cfg, err := f.Config(); err == nil {
			format = cfg.Output()
		}
	}
	if format == "" {
		format = "table"
	}
	for _, a := range allowed {
		if a == format {
			return format, nil
		}
	}
	return "", UsageErrorf("invalid output format %q: use %s", format, strings.Join(allowed, ", "))
}
