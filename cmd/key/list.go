package key

import (
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
)

type ListOptions struct {
	F      *cmdutil.Factory
	Format string
	All    bool
	// Filters, applied to what the server lists
	Statuses       []string
	ExpiringWithin time.Duration // 0: no filter
	Name           string
}

// keyStatuses are the values of a key's status field.
var keyStatuses = []string{model.StatusActive, model.StatusExpiring, model.StatusExpired, model.StatusRevoked}

func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	var status, within string
	cmd := &cobra.Command{
		Use:         "list",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Aliases:     []string{"ls"},
		Short:       "List your API keys (--all adds expired and revoked ones)",
		Long: `List your active API keys. Keys expiring within 14 days are highlighted and
have the status "expiring". --all adds expired and revoked keys.

--status keeps keys whose STATUS is one of those given (active, expiring, expired,
revoked; "active" is a key not expiring within 14 days); asking for expired or
revoked keys implies --all. --expiring-within keeps usable keys that expire within
that time, --name keys of that exact name.`,
		Example: `  $ codesync-cli key list --status expiring,expired
  $ codesync-cli key list --expiring-within 30d -o json
  $ codesync-cli key list --name ci-publish --all`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if status != "" {
				for _, st := range strings.Split(status, ",") {
					if !slices.Contains(keyStatuses, st) {
						return cmdutil.UsageErrorf("invalid --status %q: use %s", st, strings.Join(keyStatuses, ", "))
					}
					opts.Statuses = append(opts.Statuses, st)
					if st == model.StatusExpired || st == model.StatusRevoked {
						opts.All = true
					}
				}
			}
			if within != "" {
				d, err := keyrules.ParseDuration(within)
				if err != nil || d <= 0 {
					return cmdutil.UsageErrorf("invalid --expiring-within %q: a duration such as 14d or 36h", within)
				}
				opts.ExpiringWithin = d
			}
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format = format
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.All, "all", false, "include expired and revoked keys")
	fl.StringVar(&status, "status", "", "only keys of these statuses: active, expiring, expired, revoked (comma-separated)")
	fl.StringVar(&within, "expiring-within", "", "only usable keys that expire within this time (14d, 36h)")
	fl.StringVar(&opts.Name, "name", "", "only keys of this name")
	_ = cmd.RegisterFlagCompletionFunc("status", cmdutil.CompleteList(keyStatuses))
	_ = cmd.RegisterFlagCompletionFunc("expiring-within", cobra.FixedCompletions([]string{"7d", "14d", "30d"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("name", cobra.NoFileCompletions)
	return cmd
}

func listRun(o *ListOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	all, err := api.Collect(c.Keys(o.F.Context, o.All))
	if err != nil {
		return err
	}
	keys := []model.Key{}
	now := o.F.Now()
	for _, k := range all {
		if o.Name != "" && k.Name != o.Name {
			continue
		}
		if len(o.Statuses) > 0 && !slices.Contains(o.Statuses, k.Status) {
			continue
		}
		if o.ExpiringWithin > 0 && (k.Status == model.StatusRevoked || k.Status == model.StatusExpired || k.ExpiresAt.After(now.Add(o.ExpiringWithin))) {
			continue
		}
		keys = append(keys, k)
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, keys)
	}
	if len(keys) == 0 {
		if len(all) > 0 {
			o.F.IOStreams.ErrOut.Write([]byte("No keys match.\n"))
			return nil
		}
		o.F.IOStreams.ErrOut.Write([]byte("No keys. Create one with 'codesync-cli key create NAME'.\n"))
		return nil
	}
	t := &output.Table{Header: keyHeader}
	for _, k := range keys {
		addKeyRow(t, now, k)
	}
	return t.Render(o.F.IOStreams)
}
