package key

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/internal/crashpoint"
	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/atomicfile"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/csvsafe"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/output"
)

// checkOutputDir refuses --output-file in a folder that does not exist: a
// typo in the path must not create folders (exit 2).
func checkOutputDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return cmdutil.UsageErrorf("--output-file %s: the folder %s does not exist", path, dir)
	case err != nil:
		return cmdutil.UsageErrorf("--output-file %s: %s", path, err)
	case !fi.IsDir():
		return cmdutil.UsageErrorf("--output-file %s: %s is not a folder", path, dir)
	}
	return nil
}

type AuditExportOptions struct {
	F          *cmdutil.Factory
	Export     api.ExportOptions
	OutputFile string
}

func NewCmdAuditExport(f *cmdutil.Factory, runF func(*AuditExportOptions) error) *cobra.Command {
	opts := &AuditExportOptions{F: f}
	var since, formatAlias string
	cmd := &cobra.Command{
		Use:         "audit-export",
		Annotations: cmdutil.Outputs(output.FormatJSON, output.FormatNDJSON, output.FormatCSV),
		Short:       "Export key metadata (never a secret) for compliance audits",
		Long: `Export the metadata of every key of yours, revoked and expired ones included,
for quarterly compliance audits. Never a secret. The export streams: memory stays
flat however many keys and events there are.

  json    {"schema_version":1,"generated_at","server","user","summary","keys":[…],"events":[…]}
  ndjson  one key object a line
  csv     a header row, then one key a line

-o picks the format (json by default); --format is the same flag under its older
name. --jq filters the json export (and then reads it whole).

--output-file writes atomically: a temporary file, then a rename, so the file is
either the previous one or the complete new one, never half written.`,
		Example: `  $ codesync-cli key audit-export --format csv --output-file keys-2026Q4.csv
  $ codesync-cli key audit-export --since 2026-10-01 --include-events > audit.json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// --format is -o under its older name
			if cmd.Flags().Changed("format") {
				if f.Flags.Output != "" && f.Flags.Output != formatAlias {
					return cmdutil.UsageErrorf("-o %s and --format %s disagree: give one", f.Flags.Output, formatAlias)
				}
				f.Flags.Output = formatAlias
			}
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			opts.Export.Format = format
			if opts.Export.IncludeEvents && opts.Export.Format != output.FormatJSON {
				return cmdutil.UsageErrorf("--include-events needs -o json (ndjson and csv hold one key a line)")
			}
			if opts.OutputFile != "" {
				if err := checkOutputDir(opts.OutputFile); err != nil {
					return err
				}
			}
			if since != "" {
				t, err := keyrules.ParseSince(since, f.Now())
				if err != nil {
					return cmdutil.UsageErrorf("%s", err)
				}
				opts.Export.Since = t.UTC().Format(time.RFC3339)
			}
			if runF != nil {
				return runF(opts)
			}
			return exportRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&formatAlias, "format", "", "the same as -o: json, ndjson or csv")
	fl.StringVar(&opts.OutputFile, "output-file", "", "write to this file (atomically) instead of stdout")
	fl.StringVar(&since, "since", "", "only keys created or changed since DATE (2006-01-02, RFC 3339, or a duration such as 30d)")
	fl.BoolVar(&opts.Export.IncludeEvents, "include-events", false, "add the audit events (json only; needs audit:read)")
	fl.StringVar(&opts.Export.Org, "org", "", "every member's keys that reach this organization, with their owner (owners, admins, auditors)")
	_ = cmd.RegisterFlagCompletionFunc("org", cmdutil.CompleteOrgSlug(f))
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{output.FormatJSON, output.FormatNDJSON, output.FormatCSV}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("since", cobra.NoFileCompletions)
	_ = cmd.MarkFlagFilename("output-file")
	return cmd
}

func exportRun(o *AuditExportOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	ios := o.F.IOStreams
	body, err := c.Export(o.F.Context, o.Export)
	if err != nil {
		return err
	}
	defer body.Close()
	var src io.Reader = body
	if ios.IsStderrTTY() {
		p := &progress{r: body}
		stop := p.start(ios.ErrOut)
		defer stop()
		src = p
	}
	if o.Export.Format == "csv" {
		// escape formula cells again here: a file auditors open in a
		// spreadsheet must be safe whatever server wrote it
		src = csvSafe(src)
	}
	if expr := ios.JQ(); expr != "" {
		// the filter needs the whole document
		if o.OutputFile == "" {
			return output.JQ(o.F.Context, ios.Out, src, expr)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(output.JQ(o.F.Context, pw, src, expr)) }()
		src = pr
	}
	if o.OutputFile == "" {
		_, err = io.Copy(ios.Out, src)
		return err
	}
	f, err := atomicfile.Create(o.OutputFile, 0o600)
	if err != nil {
		return cmdutil.Errorf("cannot write %s: %s", o.OutputFile, err)
	}
	defer f.Abort() // an interrupted export leaves the old file as it was

	// test builds only (-tags crashpoints): a release build has no hook here
	if crashpoint.Enabled {
		src = io.TeeReader(src, crashAfter{})
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return cmdutil.Errorf("cannot write %s: %s", o.OutputFile, err)
	}
	fmt.Fprintf(ios.ErrOut, "Wrote %s (%s).\n", o.OutputFile, humanBytes(n))
	return nil
}

// csvSafe streams CSV from r with every formula cell escaped (csvsafe).
func csvSafe(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		_, err := csvsafe.Copy(pw, r)
		pw.CloseWithError(err)
	}()
	return pr
}

// progress reports bytes read on a terminal, from the first second on.
type progress struct {
	r io.Reader
	n atomic.Int64
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

func (p *progress) start(w io.Writer) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		shown := false
		for {
			select {
			case <-done:
				if shown {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[Kexporting… %s", humanBytes(p.n.Load()))
				shown = true
			}
		}
	}()
	return func() { close(done); <-finished }
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// crashAfter lets the crash-safety test kill the export midway.
type crashAfter struct{}

func (crashAfter) Write(p []byte) (int, error) {
	crashpoint.Hit("export-midway")
	return len(p), nil
}
