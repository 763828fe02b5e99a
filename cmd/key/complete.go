package key

import (
	"context"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
)

// completeKeys lists key IDs matching prefix as "ID\tNAME", within 2 s.
func completeKeys(f *cmdutil.Factory, prefix string) []string {
	c, err := f.APIClient()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []string
	for k, err := range c.Keys(ctx, false) {
		if err != nil {
			return nil
		}
		if strings.HasPrefix(k.ID, prefix) {
			out = append(out, k.ID+"\t"+k.Name)
		}
	}
	return out
}
