// Package webhook is `codesync-cli webhook …`: endpoints that receive key
// events (signed per Standard Webhooks), their delivery log, redelivery and
// secret rotation.
package webhook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
	"github.com/codesync/codesync-cli/pkg/webhook"
)

func NewCmdWebhook(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook <command>",
		Short: "Webhooks: receive key events, signed, at your own endpoint",
		Long: `A webhook endpoint receives key events as signed HTTP POSTs (Standard Webhooks:
webhook-id, webhook-timestamp, webhook-signature; any of its libraries verifies
them with the endpoint's secret). Events: ` + strings.Join(webhook.Events(), ", ") + `.

Endpoints are yours, or an organization's (--org, for its owners and admins).
URLs are https://, or http:// to a loopback address; private and link-local
addresses are refused unless the server allows them. Failed deliveries are
retried with backoff for 24 hours; then the endpoint is marked failing.
Reading needs the scope keys:read, changing keys:write.`,
		Example: `  $ codesync-cli webhook add https://hooks.example.com/codesync --events key.expiring,key.revoked
  $ codesync-cli webhook list
  $ codesync-cli webhook deliveries wh_0123456789abcdef
  $ codesync-cli webhook redeliver dlv_00112233445566778899`,
	}
	cmd.AddCommand(
		NewCmdAdd(f, nil),
		NewCmdList(f, nil),
		NewCmdRemove(f, nil),
		NewCmdDeliveries(f, nil),
		NewCmdRedeliver(f, nil),
		NewCmdRotateSecret(f, nil),
	)
	return cmd
}

// formats are what every webhook command prints (-o)
func formats() map[string]string { return cmdutil.Outputs(output.FormatTable, output.FormatJSON) }

// completionBudget bounds a completion request: a shell waits on it.
const completionBudget = 2 * time.Second

func completeWithin(lookup func(ctx context.Context) []string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), completionBudget)
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

// completeWebhookIDs completes one endpoint ID ("ID\tURL"), of --org when
// given, never prompting.
func completeWebhookIDs(f *cmdutil.Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		org, _ := cmd.Flags().GetString("org")
		return completeWithin(func(ctx context.Context) []string {
			c, err := f.APIClient()
			if err != nil {
				return nil
			}
			hooks, err := c.Webhooks(ctx, org)
			if err != nil {
				return nil
			}
			var out []string
			for _, h := range hooks {
				if strings.HasPrefix(h.ID, toComplete) {
					out = append(out, h.ID+"\t"+h.URL)
				}
			}
			return out
		}), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeDeliveryIDs completes a delivery ID from the logs of your
// endpoints ("ID\tEVENT STATUS").
func completeDeliveryIDs(f *cmdutil.Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeWithin(func(ctx context.Context) []string {
			c, err := f.APIClient()
			if err != nil {
				return nil
			}
			hooks, err := c.Webhooks(ctx, "")
			if err != nil {
				return nil
			}
			var out []string
			for _, h := range hooks {
				ds, err := c.WebhookDeliveries(ctx, h.ID)
				if err != nil {
					return out
				}
				for _, d := range ds {
					if strings.HasPrefix(d.ID, toComplete) {
						out = append(out, d.ID+"\t"+d.Event+" "+d.Status)
					}
				}
			}
			return out
		}), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeEvents completes the last element of a comma-separated event list.
func completeEvents(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done = toComplete[:i+1]
	}
	var out []string
	for _, e := range webhook.Events() {
		if !strings.Contains(","+done, ","+e+",") {
			out = append(out, done+e)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

func status(h model.Webhook) string {
	if h.Status == model.WebhookFailing && h.FailingSince != nil {
		return "failing since " + h.FailingSince.UTC().Format(time.RFC3339)
	}
	return h.Status
}

type AddOptions struct {
	F      *cmdutil.Factory
	Format string
	URL    string
	Events string
	Org    string
}

func NewCmdAdd(f *cmdutil.Factory, runF func(*AddOptions) error) *cobra.Command {
	opts := &AddOptions{F: f}
	cmd := &cobra.Command{
		Use:         "add URL",
		Annotations: formats(),
		Short:       "Register an endpoint; prints its signing secret once",
		Long: `Register a webhook endpoint. The signing secret (whsec_…) is printed once, on
standard output; keep it where your receiver can read it. Without --events the
endpoint receives every event.`,
		Example: `  $ codesync-cli webhook add https://hooks.example.com/codesync --events key.expiring,key.revoked
  $ codesync-cli webhook add https://hooks.acme.example/codesync --org acme-corp`,
		Args: cmdutil.ExactArgs(1, "one endpoint URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			if _, err := webhook.ParseEvents(opts.Events); err != nil {
				return cmdutil.UsageErrorf("--events: %s", err)
			}
			opts.Format, opts.URL = format, args[0]
			if runF != nil {
				return runF(opts)
			}
			return addRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Events, "events", "", "comma-separated events (default: all): "+strings.Join(webhook.Events(), ", "))
	cmd.Flags().StringVar(&opts.Org, "org", "", "an organization's endpoint (owners and admins)")
	_ = cmd.RegisterFlagCompletionFunc("events", completeEvents)
	_ = cmd.RegisterFlagCompletionFunc("org", cmdutil.CompleteOrgSlug(f))
	return cmd
}

func addRun(o *AddOptions) error {
	events, err := webhook.ParseEvents(o.Events)
	if err != nil {
		return cmdutil.UsageErrorf("--events: %s", err)
	}
	if o.Events == "" {
		events = nil
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	h, err := c.CreateWebhook(o.F.Context, model.CreateWebhookRequest{URL: o.URL, Events: events, Org: o.Org})
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, h)
	}
	ios := o.F.IOStreams
	fmt.Fprintf(ios.ErrOut, "Added webhook %s for %s (events: %s).\n", h.ID, h.URL, strings.Join(h.Events, ", "))
	fmt.Fprintln(ios.ErrOut, "Its signing secret, shown this once:")
	fmt.Fprintln(ios.Out, h.Secret)
	return nil
}

type ListOptions struct {
	F      *cmdutil.Factory
	Format string
	Org    string
}

func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	cmd := &cobra.Command{
		Use:         "list",
		Annotations: formats(),
		Aliases:     []string{"ls"},
		Short:       "List your endpoints (or an organization's with --org)",
		Args:        cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	cmd.Flags().StringVar(&opts.Org, "org", "", "list an organization's endpoints")
	_ = cmd.RegisterFlagCompletionFunc("org", cmdutil.CompleteOrgSlug(f))
	return cmd
}

func listRun(o *ListOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	hooks, err := c.Webhooks(o.F.Context, o.Org)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, hooks)
	}
	if len(hooks) == 0 {
		fmt.Fprintln(o.F.IOStreams.ErrOut, "No webhooks. Add one with 'codesync-cli webhook add URL'.")
		return nil
	}
	t := &output.Table{Header: []string{"ID", "URL", "EVENTS", "STATUS"}}
	for _, h := range hooks {
		t.AddRow(h.ID, h.URL, strings.Join(h.Events, ","), status(h))
	}
	return t.Render(o.F.IOStreams)
}

type RemoveOptions struct {
	F  *cmdutil.Factory
	ID string
}

func NewCmdRemove(f *cmdutil.Factory, runF func(*RemoveOptions) error) *cobra.Command {
	opts := &RemoveOptions{F: f}
	cmd := &cobra.Command{
		Use:               "remove ID",
		Annotations:       formats(),
		Aliases:           []string{"rm"},
		Short:             "Remove an endpoint and its delivery log",
		Args:              cmdutil.ExactArgs(1, "one webhook ID"),
		ValidArgsFunction: completeWebhookIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			if err := c.DeleteWebhook(f.Context, opts.ID); err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "Removed webhook %s.\n", opts.ID)
			return nil
		},
	}
	return cmd
}

type DeliveriesOptions struct {
	F      *cmdutil.Factory
	Format string
	ID     string
}

func NewCmdDeliveries(f *cmdutil.Factory, runF func(*DeliveriesOptions) error) *cobra.Command {
	opts := &DeliveriesOptions{F: f}
	return &cobra.Command{
		Use:         "deliveries ID",
		Annotations: formats(),
		Short:       "Show an endpoint's delivery log (newest first)",
		Long: `Show an endpoint's delivery log, newest first: each message, its event, status
(pending, delivered, failed), the number of attempts and the last answer.`,
		Args:              cmdutil.ExactArgs(1, "one webhook ID"),
		ValidArgsFunction: completeWebhookIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format, opts.ID = format, args[0]
			if runF != nil {
				return runF(opts)
			}
			return deliveriesRun(opts)
		},
	}
}

func deliveriesRun(o *DeliveriesOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	ds, err := c.WebhookDeliveries(o.F.Context, o.ID)
	if err != nil {
		return err
	}
	if o.Format == output.FormatJSON {
		return output.JSON(o.F.IOStreams, ds)
	}
	if len(ds) == 0 {
		fmt.Fprintln(o.F.IOStreams.ErrOut, "No deliveries yet.")
		return nil
	}
	t := &output.Table{Header: []string{"ID", "EVENT", "STATUS", "ATTEMPTS", "LAST", "CREATED"}}
	for _, d := range ds {
		last := "-"
		switch {
		case d.LastError != "":
			last = d.LastError
		case d.LastStatusCode != nil:
			last = fmt.Sprintf("HTTP %d", *d.LastStatusCode)
		}
		t.AddRow(d.ID, d.Event, d.Status, fmt.Sprint(d.Attempts), last, d.CreatedAt.UTC().Format(time.RFC3339))
	}
	return t.Render(o.F.IOStreams)
}

type RedeliverOptions struct {
	F      *cmdutil.Factory
	Format string
	ID     string
}

func NewCmdRedeliver(f *cmdutil.Factory, runF func(*RedeliverOptions) error) *cobra.Command {
	opts := &RedeliverOptions{F: f}
	return &cobra.Command{
		Use:         "redeliver DELIVERY_ID",
		Annotations: formats(),
		Short:       "Send a delivery's message again (same webhook-id)",
		Long: `Send a message again, now, with the same webhook-id (receivers that got it
already can drop it). Delivery IDs are in 'codesync-cli webhook deliveries ID'.`,
		Args:              cmdutil.ExactArgs(1, "one delivery ID"),
		ValidArgsFunction: completeDeliveryIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format, opts.ID = format, args[0]
			if runF != nil {
				return runF(opts)
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			d, err := c.Redeliver(f.Context, opts.ID)
			if err != nil {
				return err
			}
			if opts.Format == output.FormatJSON {
				return output.JSON(f.IOStreams, d)
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "Redelivery of %s (%s, %s) queued.\n", d.ID, d.Event, d.MessageID)
			return nil
		},
	}
}

type RotateSecretOptions struct {
	F      *cmdutil.Factory
	Format string
	ID     string
}

func NewCmdRotateSecret(f *cmdutil.Factory, runF func(*RotateSecretOptions) error) *cobra.Command {
	opts := &RotateSecretOptions{F: f}
	return &cobra.Command{
		Use:         "rotate-secret ID",
		Annotations: formats(),
		Short:       "Give an endpoint a new signing secret; prints it once",
		Long: `Give an endpoint a new signing secret, printed once on standard output. For 24
hours deliveries carry two signatures, one per secret, so your receiver keeps
verifying while you deploy the new one.`,
		Args:              cmdutil.ExactArgs(1, "one webhook ID"),
		ValidArgsFunction: completeWebhookIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format, opts.ID = format, args[0]
			if runF != nil {
				return runF(opts)
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			h, err := c.RotateWebhookSecret(f.Context, opts.ID)
			if err != nil {
				return err
			}
			if opts.Format == output.FormatJSON {
				return output.JSON(f.IOStreams, h)
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "New signing secret of webhook %s (the old one also signs for 24 hours), shown this once:\n", h.ID)
			fmt.Fprintln(f.IOStreams.Out, h.Secret)
			return nil
		},
	}
}
