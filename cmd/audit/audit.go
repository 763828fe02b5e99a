// Package audit is `codesync-cli audit events`.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	F       *cmdutil.Factory
	Format  string
	Filter  api.EventFilter
	Reverse bool
	Follow  bool
	// PollMin and PollMax bound the --follow polling interval.
	PollMin, PollMax time.Duration
}

func NewCmdEvents(f *cmdutil.Factory, runF func(*EventsOptions) error) *cobra.Command {
	opts := &EventsOptions{F: f, PollMin: time.Second, PollMax: 30 * time.Second}
	var since, types string
	cmd := &cobra.Command{
		Use:         "events",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON, output.FormatNDJSON),
		Short:       "List audit events: key creation, use, rotation, revocation, sign-ins",
		Long: `List audit events, newest first (--reverse: oldest first). --limit keeps the
newest N. Types: ` + strings.Join(model.EventTypes, ", ") + `.
token:used is recorded at most once a minute per credential.

--follow prints the newest --limit events oldest first, as tail -f does, then
each new event as it happens, polling the server (every second, slowing to every
30 seconds while nothing happens). Ctrl-C stops it (exit 0). With --follow,
-o json and -o ndjson print one event a line.`,
		Example: `  $ codesync-cli audit events --since 7d --type token:rotated,token:revoked
  $ codesync-cli audit events --key key_8fK2… -o json
  $ codesync-cli audit events --follow --type login:failed`,
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
	fl.IntVar(&opts.Filter.Limit, "limit", 100, "at most this many events, the newest (0: all)")
	fl.StringVar(&opts.Filter.Org, "org", "", "the organization's log: its own events and its members' key events (owners, admins, auditors)")
	fl.BoolVar(&opts.Reverse, "reverse", false, "oldest first")
	fl.BoolVar(&opts.Follow, "follow", false, "keep printing new events until Ctrl-C")
	_ = cmd.RegisterFlagCompletionFunc("type", cmdutil.CompleteList(model.EventTypes))
	_ = cmd.RegisterFlagCompletionFunc("since", cobra.NoFileCompletions)
	// --key takes one key ID, whatever the arguments
	keyIDs := cmdutil.CompleteKeyIDs(f, true)
	_ = cmd.RegisterFlagCompletionFunc("key", func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return keyIDs(c, nil, toComplete)
	})
	_ = cmd.RegisterFlagCompletionFunc("limit", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("org", cmdutil.CompleteOrgSlug(f))
	return cmd
}

func eventsRun(o *EventsOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	ctx := o.F.Context
	// the server pages oldest first: keep the newest Limit of them
	var events []model.Event
	all := o.Filter
	all.Limit = 0
	for e, err := range c.Events(ctx, all) {
		if err != nil {
			if o.Follow && errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		events = append(events, e)
		if o.Filter.Limit > 0 && len(events) > 2*o.Filter.Limit {
			events = append(events[:0], events[len(events)-o.Filter.Limit:]...)
		}
	}
	if o.Filter.Limit > 0 && len(events) > o.Filter.Limit {
		events = events[len(events)-o.Filter.Limit:]
	}
	if events == nil {
		events = []model.Event{}
	}
	if o.Follow {
		return follow(o, c, events)
	}
	if !o.Reverse {
		slices.Reverse(events)
	}
	ios := o.F.IOStreams
	switch o.Format {
	case output.FormatJSON:
		return output.JSON(ios, events)
	case output.FormatNDJSON:
		return printLines(o, events)
	}
	if len(events) == 0 {
		fmt.Fprintln(ios.ErrOut, "No events match.")
		return nil
	}
	return eventTable(o, events, true).Render(ios)
}

func eventTable(o *EventsOptions, events []model.Event, header bool) *output.Table {
	t := &output.Table{}
	if header {
		t.Header = []string{"TIME", "TYPE", "ACTOR", "KEY", "IP", "DETAIL"}
	}
	now := o.F.Now()
	for _, e := range events {
		t.AddRow(output.RelativeTime(now, e.Time), e.Type, e.Actor, deref(e.KeyID), deref(e.IP), e.Detail)
		if e.Type == model.EventScopeEscalated || e.Type == model.EventLoginFailed {
			t.HighlightLast()
		}
	}
	return t
}

// printLines prints one event a line (ndjson, and json under --follow),
// each through --jq when given.
func printLines(o *EventsOptions, events []model.Event) error {
	ios := o.F.IOStreams
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if expr := ios.JQ(); expr != "" {
			if err := output.JQ(o.F.Context, ios.Out, bytes.NewReader(b), expr); err != nil {
				return err
			}
			continue
		}
		if _, err := fmt.Fprintf(ios.Out, "%s\n", b); err != nil {
			return err
		}
	}
	return nil
}

// follow prints events (oldest first), then polls for new ones until the
// context ends (Ctrl-C): every PollMin while events come, slowing down to
// PollMax while none do, and backing off the same way when the server cannot
// be reached or asks to slow down.
func follow(o *EventsOptions, c *api.Client, events []model.Event) error {
	ios := o.F.IOStreams
	print := func(evs []model.Event, first bool) error {
		if len(evs) == 0 {
			return nil
		}
		if o.Format == output.FormatTable {
			// tail -f style: one header, then rows as they come
			return eventTable(o, evs, first).Render(ios)
		}
		return printLines(o, evs)
	}
	if err := print(events, true); err != nil {
		return err
	}
	// the server's since is inclusive: remember the IDs of the last second
	var last time.Time
	seen := map[string]bool{}
	note := func(e model.Event) {
		if e.Time.After(last) {
			last, seen = e.Time, map[string]bool{}
		}
		seen[e.ID] = true
	}
	for _, e := range events {
		note(e)
	}
	if last.IsZero() {
		if o.Filter.Since != "" {
			last, _ = time.Parse(time.RFC3339, o.Filter.Since)
		} else {
			last = o.F.Now().UTC().Truncate(time.Second)
		}
	}
	interval, warned := o.PollMin, false
	headerDone := len(events) > 0
	for {
		t := time.NewTimer(interval)
		select {
		case <-o.F.Context.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		f := o.Filter
		f.Since, f.Limit = last.UTC().Format(time.RFC3339), 0
		var fresh []model.Event
		var perr error
		for e, err := range c.Events(o.F.Context, f) {
			if err != nil {
				perr = err
				break
			}
			if !seen[e.ID] {
				fresh = append(fresh, e)
			}
		}
		if o.F.Context.Err() != nil {
			return nil
		}
		if perr != nil {
			var he *api.HTTPError
			var te *api.TransportError
			if !(errors.As(perr, &te) || (errors.As(perr, &he) && (he.Status == 429 || he.Status >= 500))) {
				return perr
			}
			if !warned {
				fmt.Fprintf(ios.ErrOut, "warning: %s; still trying\n", perr)
				warned = true
			}
			interval = min(2*interval, o.PollMax)
			continue
		}
		warned = false
		if len(fresh) == 0 {
			interval = min(interval*3/2, o.PollMax)
			continue
		}
		interval = o.PollMin
		for _, e := range fresh {
			note(e)
		}
		if err := print(fresh, !headerDone); err != nil {
			return err
		}
		headerDone = true
	}
}

func deref(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}
