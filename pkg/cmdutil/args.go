package cmdutil

import (
	"fmt"
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

// RefuseUnknownSubcommands makes every command group below root (`key`,
// `auth`, …) refuse an unknown subcommand with exit 2 and a suggestion, as the
// root does, instead of printing its help and succeeding: a typo in CI must
// fail. A group called alone still prints its help.
func RefuseUnknownSubcommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		RefuseUnknownSubcommands(c)
		if !c.HasSubCommands() {
			continue
		}
		if c.Runnable() {
			// a command that runs and has subcommands (server): an argument
			// it refuses is most likely a mistyped subcommand
			if orig := c.Args; orig != nil {
				c.Args = func(cmd *cobra.Command, args []string) error {
					if err := orig(cmd, args); err != nil {
						if len(args) > 0 {
							return UnknownCommandError(cmd, args[0])
						}
						return err
					}
					return nil
				}
			}
			continue
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return UnknownCommandError(cmd, args[0])
		}
	}
}

// UnknownCommandError is "unknown command "x" for "parent"" with cobra's
// suggestions: exit 2.
func UnknownCommandError(parent *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, parent.CommandPath())
	if parent.SuggestionsMinimumDistance <= 0 {
		parent.SuggestionsMinimumDistance = 2
	}
	if s := parent.SuggestionsFor(name); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return &ExitError{Code: ExitUsage, ErrCode: "usage", Msg: msg, Hint: fmt.Sprintf("run '%s --help' for the commands", parent.CommandPath())}
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
