package cmdutil

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// orgCompletionBudget bounds a completion request: a shell waits on it.
const orgCompletionBudget = 2 * time.Second

// completeWithin runs lookup under the completion budget; any failure (not
// logged in, server down, too slow) completes nothing, and nothing prompts.
func completeWithin(lookup func(ctx context.Context) []string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), orgCompletionBudget)
	defer cancel()
	found := make(chan []string, 1)
	go func() { found <- lookup(ctx) }()
	select {
	case out := <-found:
		return out
	case <-ctx.Done():
		return nil
	}
}

// OrgSlugs lists the caller's organization slugs starting with prefix, as
// "SLUG\tNAME (ROLE)".
func OrgSlugs(f *Factory, prefix string) []string {
	return completeWithin(func(ctx context.Context) []string {
		c, err := f.APIClient()
		if err != nil {
			return nil
		}
		orgs, err := c.Orgs(ctx)
		if err != nil {
			return nil
		}
		var out []string
		for _, o := range orgs {
			if strings.HasPrefix(o.Slug, prefix) {
				out = append(out, o.Slug+"\t"+o.Name+" ("+o.Role+")")
			}
		}
		return out
	})
}

// OrgMembers lists the member names of organization slug starting with
// prefix, as "USER\tROLE".
func OrgMembers(f *Factory, slug, prefix string) []string {
	return completeWithin(func(ctx context.Context) []string {
		c, err := f.APIClient()
		if err != nil {
			return nil
		}
		ms, err := c.Members(ctx, slug)
		if err != nil {
			return nil
		}
		var out []string
		for _, m := range ms {
			if strings.HasPrefix(m.User, prefix) {
				out = append(out, m.User+"\t"+m.Role)
			}
		}
		return out
	})
}

// OrgNamespaces lists the npm scopes organization slug owns.
func OrgNamespaces(f *Factory, slug string) []string {
	return completeWithin(func(ctx context.Context) []string {
		c, err := f.APIClient()
		if err != nil {
			return nil
		}
		d, err := c.GetOrg(ctx, slug)
		if err != nil {
			return nil
		}
		return d.Namespaces
	})
}

// CompleteOrgSlug completes a flag or first argument naming an organization.
func CompleteOrgSlug(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return OrgSlugs(f, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}
