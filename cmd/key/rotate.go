package key

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/internal/crashpoint"
	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
	"github.com/codesync/codesync-cli/pkg/pending"
)

// maxGrace matches the server's bound.
const maxGrace = 30 * 24 * time.Hour

type RotateOptions struct {
	F       *cmdutil.Factory
	Format  string
	ID      string
	Grace   time.Duration
	Expires time.Duration
}

func NewCmdRotate(f *cmdutil.Factory, runF func(*RotateOptions) error) *cobra.Command {
	opts := &RotateOptions{F: f}
	var grace, expires string
	cmd := &cobra.Command{
		Use:         "rotate ID|NAME",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Replace a key with a new one; the old one keeps working for --grace",
		Long: `Create a replacement with the same name, scopes, CIDRs, namespaces, environment
and lifetime (unless --expires says otherwise), and link the two. The old key keeps working for --grace (default
24h) so pipelines can switch without downtime; --grace 0 revokes it at once (use
that for a leaked key). The request carries an Idempotency-Key, so a retry after
a network failure never creates a second replacement.`,
		Example: `  $ codesync-cli key rotate key_8fK2… --grace 48h
  $ codesync-cli key rotate key_8fK2… --grace 0     # leaked: revoke now`,
		Args:              cmdutil.KeyIDArgs(cmdutil.ExactArgs(1, "one key ID or name"), 0),
		ValidArgsFunction: completeKeyIDs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format, opts.ID = format, args[0]
			if opts.Grace, err = keyrules.ParseDuration(grace); err != nil || opts.Grace < 0 || opts.Grace > maxGrace {
				return cmdutil.UsageErrorf("invalid --grace %q: from 0 to 30d", grace)
			}
			// without --expires the server gives the new key the old one's
			// lifetime, cut to the rotating credential's expiry
			if cmd.Flags().Changed("expires") {
				if opts.Expires, err = keyrules.ParseExpiry(expires); err != nil {
					return cmdutil.UsageErrorf("%s", err)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return rotateRun(opts)
		},
	}
	cmd.Flags().StringVar(&grace, "grace", "24h", "how long the old key keeps working (0 revokes it now)")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime of the new key, 1h to 365d (default: the old key's lifetime; never past the rotating credential's expiry)")
	_ = cmd.RegisterFlagCompletionFunc("expires", cobra.FixedCompletions([]string{"30d", "90d", "180d", "365d"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("grace", cobra.FixedCompletions([]string{"0", "1h", "24h", "48h", "7d"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func rotateRun(o *RotateOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	cfg, err := o.F.Config()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(o.ID, "key_") { // a name
		k, err := resolveKey(o.F.Context, c, o.ID)
		if err != nil {
			return err
		}
		o.ID = k.ID
	}
	// the same Idempotency-Key as an interrupted earlier run, if there was one
	p, err := pending.ForRotation(cfg.File.Dir(), o.ID, api.NewIdempotencyKey)
	if err != nil {
		return err
	}
	g := int64(o.Grace.Seconds())
	res, err := c.RotateKey(o.F.Context, o.ID, model.RotateKeyRequest{GraceSeconds: &g, ExpiresIn: int64(o.Expires.Seconds())}, p.Key)
	var he *api.HTTPError
	if errors.As(err, &he) && he.Status < 500 {
		p.Done() // a definite refusal: nothing happened that a rerun could recover
	}
	if err != nil {
		return err
	}
	crashpoint.Hit("rotate-before-print")
	defer p.Done()
	ios := o.F.IOStreams
	if o.Format == output.FormatJSON {
		return output.JSON(ios, res)
	}
	now := o.F.Now()
	fmt.Fprintf(ios.ErrOut, "Rotated %s: the new key is %s (%s…), expires %s.\n", res.Old.Name, res.New.ID, res.New.Prefix, output.RelativeTime(now, res.New.ExpiresAt))
	fmt.Fprintln(ios.Out, res.New.Token)
	if res.Old.RevokedAt != nil {
		fmt.Fprintf(ios.ErrOut, "The old key %s is revoked now.\n", res.Old.ID)
	} else {
		fmt.Fprintf(ios.ErrOut, "The old key %s stops working %s (%s).\n", res.Old.ID, output.RelativeTime(now, res.Old.ExpiresAt), res.Old.ExpiresAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(ios.ErrOut, "Store the new token now: it will not be shown again.")
	return nil
}
