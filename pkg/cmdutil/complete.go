package cmdutil

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/keyrules"
)

// CompleteScopes completes the last element of a comma-separated scope list.
func CompleteScopes(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return completeCommaList(keyrules.Scopes, toComplete)
}

// CompleteList completes the last element of a comma-separated list of
// values (see CompleteScopes).
func CompleteList(values []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return completeCommaList(values, toComplete)
	}
}

// completeCommaList offers "DONE,value" for each value not yet in the list,
// with no space after it so another ",value" can follow. Each candidate
// carries the whole word: zsh and fish replace the word with it, and the
// bash script (completions/codesync-cli.bash) trims what is already typed.
func completeCommaList(values []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done = toComplete[:i+1]
	}
	have := strings.Split(strings.TrimSuffix(done, ","), ",")
	var out []string
	for _, s := range values {
		if !slices.Contains(have, s) {
			out = append(out, done+s)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
