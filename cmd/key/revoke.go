package key

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
)

type RevokeOptions struct {
	F      *cmdutil.Factory
	Format string
	IDs    []string
	Yes    bool
}

func NewCmdRevoke(f *cmdutil.Factory, runF func(*RevokeOptions) error) *cobra.Command {
	opts := &RevokeOptions{F: f}
	cmd := &cobra.Command{
		Use:         "revoke ID|NAME...",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Revoke keys at once (asks first on a terminal; --yes without one)",
		Long: `Revoke one or more keys immediately. On a terminal you are asked to confirm;
without one, --yes is required. A key can be named by its name where that is
unique. Several keys are revoked concurrently; each gets its own result line,
and the exit code is the worst of them.`,
		Args:              cmdutil.KeyIDArgs(cmdutil.MinimumArgs(1, "at least one key ID"), 0),
		ValidArgsFunction: completeKeyIDs(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Format, opts.IDs = format, dedupe(args)
			if !opts.Yes && !f.IOStreams.CanPrompt() {
				return cmdutil.UsageErrorf("refusing to revoke without confirmation: pass --yes (no terminal to ask on)")
			}
			if runF != nil {
				return runF(opts)
			}
			return revokeRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// RevokeResult is one key's outcome; -o json prints a list of them.
type RevokeResult struct {
	ID      string     `json:"id"`
	Revoked bool       `json:"revoked"`
	Key     *model.Key `json:"key,omitempty"`
	Error   string     `json:"error,omitempty"`
	Message string     `json:"message,omitempty"`
	err     error
}

// RevokeError carries the per-key errors; its exit code is the worst.
type RevokeError struct {
	Failed []error
}

func (e *RevokeError) Error() string {
	if len(e.Failed) == 1 {
		return e.Failed[0].Error()
	}
	return fmt.Sprintf("%d keys could not be revoked", len(e.Failed))
}

func (e *RevokeError) Unwrap() []error { return e.Failed }

func revokeRun(o *RevokeOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	// names become IDs; on a terminal every key is looked up, so that the
	// question can name them
	ios := o.F.IOStreams
	labels := make([]string, len(o.IDs))
	for i, arg := range o.IDs {
		labels[i] = arg
		if strings.HasPrefix(arg, "key_") && o.Yes {
			continue
		}
		k, err := resolveKey(o.F.Context, c, arg)
		if err != nil {
			if strings.HasPrefix(arg, "key_") {
				continue // revoking it reports the error with the others
			}
			return err
		}
		o.IDs[i], labels[i] = k.ID, fmt.Sprintf("%s (%s)", k.ID, k.Name)
	}
	o.IDs = dedupe(o.IDs)
	if !o.Yes {
		what := "Revoke " + strings.Join(labels, ", ") + "?"
		if len(labels) > 1 {
			what = fmt.Sprintf("Revoke %d keys: %s?", len(labels), strings.Join(labels, ", "))
		}
		using := " Pipelines using it will fail at once."
		if len(labels) > 1 {
			using = " Pipelines using them will fail at once."
		}
		ok, err := ios.Confirm(what + using)
		if err != nil {
			return err
		}
		if !ok {
			return iostreams.ErrCancelled
		}
	}
	results := make([]RevokeResult, len(o.IDs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, id := range o.IDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			k, err := c.RevokeKey(o.F.Context, id)
			results[i] = RevokeResult{ID: id, Revoked: err == nil, Key: k, err: err}
			if err != nil {
				results[i].Key = nil
				results[i].Message = err.Error()
			}
		}()
	}
	wg.Wait()
	var failed []error
	for i := range results {
		r := &results[i]
		if r.err != nil {
			failed = append(failed, r.err)
			r.Error = "error"
			var he *api.HTTPError
			if errors.As(r.err, &he) {
				r.Error = he.Code
			}
		}
	}
	if o.Format == output.FormatJSON {
		if err := output.JSON(ios, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.Revoked {
				fmt.Fprintf(ios.Out, "revoked %s (%s)\n", r.ID, r.Key.Name)
			} else {
				fmt.Fprintf(ios.Out, "failed  %s: %s\n", r.ID, r.Message)
			}
		}
	}
	if len(failed) > 0 {
		return &RevokeError{Failed: failed}
	}
	return nil
}
