package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/keyrules"
)

// CompleteScopes completes the last element of a comma-separated scope list.
func CompleteScopes(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done = toComplete[:i+1]
	}
	var out []string
	for _, s := range keyrules.Scopes {
		out = append(out, done+s)
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
