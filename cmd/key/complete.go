package key

import (
	"context"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
)

// completionBudget bounds a completion request: a shell waits on it.
const completionBudget = 2 * time.Second

// completeKeys lists key IDs matching prefix as "ID\tNAME". It never prompts
// and never hangs: the whole lookup, keyring included, runs under the budget,
// and any failure (not logged in, server down) completes nothing.
func completeKeys(f *cmdutil.Factory, prefix string) []string {
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
