// Package audit is `codesync-cli audit events`.
package audit

import (
	"fmt"
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

func NewCmdAudit(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "audit <command>", Short: "Read the audit log"}
	cmd.AddCommand(NewCmdEvents(f, nil))
	return cmd
}

type EventsOptions struct {
	F      *cmdutil.Factory
	Format string
	Filter api.EventFilter
}

func NewCmdEvents(f *cmdutil.Factory, runF func(*EventsOptions) error) *cobra.Command {
	opts := &EventsOptions{F: f}
	var since, types string
	cmd := &cobra.Command{
		Use:         "events",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON, output.FormatNDJSON),
		Short:       "List audit events: key creation, use, rotation, revocation, sign-ins",
		Long: `List audit events, oldest first. Types: ` + strings.Join(model.EventTypes, ", ") + `.
token:used is recorded at most once a minute per credential.`,
		Example: `  $ codesync-cli audit events --since 7d --type token:rotated,token:revoked
  $ codesync-cli audit events --key key_8fK2… -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format = format
			if since != "" {
				t, err := keyrules.ParseSince(since, f.Now())
				if err != nil {
					return cmdutil.UsageErrorf("%s", err)
				}
				opts.Filter.Since = t.UTC().Format(time.RFC3339)
			}
			if types != "" {
				for _, t := range strings.Split(types, ",") {
					if !slices.Contains(model.EventTypes, t) {
						return cmdutil.UsageErrorf("invalid --type %q: use %s", t, strings.Join(model.EventTypes, ", "))
					}
				}
				opts.Filter.Types = types
			}
			if opts.Filter.Limit < 0 {
				return cmdutil.UsageErrorf("invalid --limit %d: a positive number, or 0 for all", opts.Filter.Limit)
			}
			if runF != nil {
				return runF(opts)
			}
			return eventsRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "30d", "events since a duration ago (30d) or a DATE")
	fl.StringVar(&types, "type", "", "comma-separated event types")
	fl.StringVar(&opts.Filter.KeyID, "key", "", "only events of this key ID")
	fl.IntVar(&opts.Filter.Limit, "limit", 100, "at most this many events (0: all)")
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions(model.EventTypes, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func eventsRun(o *EventsOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	events, err := api.Collect(c.Events(o.F.Context, o.Filter))
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, events)
	}
	if len(events) == 0 {
		fmt.Fprintln(o.F.IOStreams.ErrOut, "No events match.")
		return nil
	}
	t := &output.Table{Header: []string{"TIME", "TYPE", "ACTOR", "KEY", "IP", "DETAIL"}}
	now := o.F.Now()
	for _, e := range events {
		t.AddRow(output.RelativeTime(now, e.Time), e.Type, e.Actor, deref(e.KeyID), deref(e.IP), e.Detail)
		if e.Type == model.EventScopeEscalated || e.Type == model.EventLoginFailed {
			t.HighlightLast()
		}
	}
	return t.Render(o.F.IOStreams)
}

func deref(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}
