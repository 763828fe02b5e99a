package cmdutil

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completionBudget bounds a completion request: a shell waits on it.
const completionBudget = 2 * time.Second

// completeKeys lists key IDs matching prefix as "ID\tNAME". It never prompts
// and never hangs: the whole lookup, keyring included, runs under the budget,
// and any failure (not logged in, server down) completes nothing.
func completeKeys(f *Factory, prefix string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), completionBudget)
	defer cancel()
	found := make(chan []string, 1)
	go func() {
		c, err := f.APIClient()
		if err != nil {
			found <- nil
			return
		}
		var out []string
		for k, err := range c.Keys(ctx, false) {
			if err != nil {
				found <- nil
				return
			}
			if strings.HasPrefix(k.ID, prefix) {
				out = append(out, k.ID+"\t"+k.Name)
			}
		}
		found <- out
	}()
	select {
	case out := <-found:
		return out
	case <-ctx.Done():
		return nil
	}
}

// CompleteKeyIDs offers key IDs with names as descriptions, for completion,
// leaving out the keys already on the line; a command of one key (many:
// false) completes nothing after it. It never prompts and gives up quickly;
// not being logged in completes nothing.
func CompleteKeyIDs(f *Factory, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if !many && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, c := range completeKeys(f, toComplete) {
			id, _, _ := strings.Cut(c, "\t")
			if !slices.Contains(args, id) {
				out = append(out, c)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
