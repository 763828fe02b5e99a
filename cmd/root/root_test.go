package root

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/iostreams"
)

func testRoot() *cobra.Command {
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Flags: &cmdutil.GlobalFlags{}, Context: context.Background(), Getenv: func(string) string { return "" }}
	return NewCmdRoot(f)
}

// TestEveryValueFlagCompletes: no flag that takes a value falls back to file
// names unless it takes a path (issue 14.6): each has its own completion or
// is marked as a file name.
func TestEveryValueFlagCompletes(t *testing.T) {
	root := testRoot()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if fl.Value.Type() == "bool" {
				return
			}
			if _, ok := fl.Annotations[cobra.BashCompFilenameExt]; ok {
				return
			}
			if _, ok := c.GetFlagCompletionFunc(fl.Name); !ok {
				t.Errorf("%s --%s completes file names", c.CommandPath(), fl.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// TestEveryCommandDeclaresOutputs: every command that runs states the -o
// formats it prints, so -o is checked and completed per command (issue 14.3).
func TestEveryCommandDeclaresOutputs(t *testing.T) {
	// commands that print no data: -o json only shapes their errors
	noData := map[string]bool{
		"login": true, "logout": true, "token": true, "refresh": true, "set": true, "server": true, "add": true, "suspend": true,
		"sign": true, "delete-key": true, "link": true, "unlink": true, "help": true, "bash": true, "zsh": true, "fish": true, "powershell": true,
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.HasSubCommands() && !strings.HasPrefix(c.Name(), "__") {
			if formats, data := cmdutil.SupportedOutputs(c); !data && !noData[c.Name()] {
				t.Errorf("%s declares no output formats (has %v)", c.CommandPath(), formats)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(testRoot())
}
