package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/redact"
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

// KeyIDArgs wraps args: the arguments from position from on are key IDs,
// and one shaped like a token (a key pasted instead of its ID) is a usage
// error that does not repeat it, so it goes no further: not to the server's
// access log, not to the terminal again.
func KeyIDArgs(args cobra.PositionalArgs, from int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := args(cmd, a); err != nil {
			return err
		}
		for i := from; i < len(a); i++ {
			if redact.Looks(a[i]) {
				return UsageErrorf("argument %d of %s is a token, not a key ID: pass the key ID (key_…) that 'codesync-cli key list' shows, and revoke the token if it was exposed", i+1, cmd.CommandPath())
			}
		}
		return nil
	}
}
