// Package scan is `codesync-cli scan`: find CodeSync API keys in files,
// archives, container images, git history and standard input.
package scan

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
	leakscan "github.com/codesync/codesync-cli/pkg/scan"
)

// FormatSARIF is SARIF 2.1.0, for code-scanning tools.
const FormatSARIF = "sarif"

// Options of `scan`.
type Options struct {
	F          *cmdutil.Factory
	Format     string
	Paths      []string // "-" is standard input
	GitHistory bool
	Image      string
	Check      bool
	Revoke     bool
	Yes        bool
}

// NewCmdScan returns `codesync-cli scan`.
func NewCmdScan(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:         "scan [PATH...|-]",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON, output.FormatCSV, FormatSARIF),
		Short:       "Find CodeSync API keys in files, archives, images and git history (exit 1 when found)",
		Long: `Find CodeSync API keys (csy_prod_…, csy_dev_…) in files, offline. Folders are
walked (without .git); tar, tar.gz and zip archives are opened, archives inside
archives too; "-" reads standard input. With no PATH the current folder is
scanned. A match counts only when its checksum is valid, so random look-alikes
are not reported. Only a key's first 12 characters are ever printed.

--git-history also reads every commit's patches (git log -p --all) of the
folders given, so a key that was committed and later removed is still found.
--image scans a container image saved with "docker save" (plain or gzip) or an
OCI image layout: every layer and the image configuration.

--check asks the server whether each key found is active, sending only the
SHA-256 of each key. --revoke also revokes the active keys found that belong
to you, after confirmation (--yes without a terminal).

Exit status: 0 when nothing is found, 1 when a key is found, 2 on a usage
error (a path that does not exist, an unknown flag), so scan works as a
pre-commit hook and a CI step.`,
		Example: `  $ codesync-cli scan
  $ codesync-cli scan --git-history -o sarif . > codesync.sarif
  $ docker save app:latest -o app.tar && codesync-cli scan --image app.tar
  $ git diff --cached | codesync-cli scan -
  $ codesync-cli scan --revoke ./build`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormat(f, output.FormatTable, output.FormatJSON, output.FormatCSV, FormatSARIF)
			if err != nil {
				return err
			}
			opts.Format, opts.Paths = format, args
			if len(opts.Paths) == 0 && opts.Image == "" {
				opts.Paths = []string{"."}
			}
			stdin := 0
			for _, p := range opts.Paths {
				if p == "-" {
					stdin++
				}
			}
			if stdin > 1 {
				return cmdutil.UsageErrorf("standard input (-) can be scanned once")
			}
			if opts.GitHistory && stdin > 0 && len(opts.Paths) == 1 {
				return cmdutil.UsageErrorf("--git-history needs a folder in a git repository, not standard input")
			}
			if opts.Revoke && !opts.Yes {
				if stdin > 0 {
					return cmdutil.UsageErrorf("--revoke while scanning standard input needs --yes (stdin cannot also answer the question)")
				}
				if !f.IOStreams.CanPrompt() {
					return cmdutil.UsageErrorf("refusing to revoke without confirmation: pass --yes (no terminal to ask on)")
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.GitHistory, "git-history", false, "also scan every commit's patches (git log -p --all)")
	fl.StringVar(&opts.Image, "image", "", "scan a container image: a `docker save` archive or an OCI image layout")
	_ = cmd.MarkFlagFilename("image")
	fl.BoolVar(&opts.Check, "check", false, "ask the server whether each key found is active (sends SHA-256 hashes only)")
	fl.BoolVar(&opts.Revoke, "revoke", false, "revoke the active keys found that belong to you (implies --check)")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "with --revoke: do not ask for confirmation")
	return cmd
}

// Result is one finding with what the server said about it (--check).
type Result struct {
	leakscan.Finding
	Status  string  `json:"status,omitempty"`
	KeyID   *string `json:"key_id,omitempty"`
	Revoked bool    `json:"revoked,omitempty"`
}

func run(o *Options) error {
	ios := o.F.IOStreams
	ctx := o.F.Context
	var warnMu sync.Mutex
	s := leakscan.New(leakscan.Options{Warn: func(m string) {
		warnMu.Lock()
		fmt.Fprintln(ios.ErrOut, "warning: "+m)
		warnMu.Unlock()
	}})
	var files, dirs []string
	stdin := false
	for _, p := range o.Paths {
		if p == "-" {
			stdin = true
		} else {
			files = append(files, p)
			dirs = append(dirs, p)
		}
	}
	// the sources are scanned at once: history and image beside the walk
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	goScan := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	if len(files) > 0 {
		goScan(func() error { return s.ScanPaths(ctx, files) })
	}
	if o.Image != "" {
		goScan(func() error { return s.ScanImage(ctx, o.Image) })
	}
	if o.GitHistory {
		for _, d := range dirs {
			goScan(func() error { return s.ScanGitHistory(ctx, d) })
		}
	}
	if stdin {
		goScan(func() error { return s.ScanReader(ctx, "-", ios.In) })
	}
	wg.Wait()
	if len(errs) > 0 {
		return scanError(errs[0])
	}
	findings := s.Findings()
	results := make([]Result, len(findings))
	for i, f := range findings {
		results[i].Finding = f
	}
	var revokeErr error
	if (o.Check || o.Revoke) && len(findings) > 0 {
		if err := check(o, results); err != nil {
			return err
		}
		if o.Revoke {
			revokeErr = revoke(o, results)
		}
	}
	if err := render(o, results); err != nil {
		return err
	}
	if len(results) == 0 {
		if o.Format == output.FormatTable {
			fmt.Fprintln(ios.ErrOut, "No CodeSync API keys found.")
		}
		return nil
	}
	found := &cmdutil.ExitError{Code: cmdutil.ExitFailure, ErrCode: "tokens_found", Msg: summary(results)}
	if o.Format == output.FormatTable {
		found.Hint = "revoke a leaked key ('codesync-cli scan --revoke', 'codesync-cli key revoke ID'), then remove it from the file"
	}
	if revokeErr != nil {
		return errors.Join(found, revokeErr)
	}
	return found
}

func summary(results []Result) string {
	keys := map[string]bool{}
	for _, r := range results {
		keys[r.SHA256] = true
	}
	places := "places"
	if len(results) == 1 {
		places = "place"
	}
	if len(keys) == 1 {
		return fmt.Sprintf("found 1 CodeSync API key in %d %s", len(results), places)
	}
	return fmt.Sprintf("found %d CodeSync API keys in %d %s", len(keys), len(results), places)
}

// scanError maps the scanner's errors to exit codes: a path that cannot be
// scanned is a usage error (2), as for grep.
func scanError(err error) error {
	var pe *leakscan.PathError
	switch {
	case errors.As(err, &pe):
		return cmdutil.UsageErrorf("%s", pe.Error())
	case errors.Is(err, leakscan.ErrNotGitRepository):
		return cmdutil.UsageErrorf("--git-history: %s", err)
	}
	return err
}

// check asks the server about every distinct key found (hashes only).
func check(o *Options, results []Result) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	var hashes []string
	seen := map[string]bool{}
	for _, r := range results {
		if !seen[r.SHA256] {
			seen[r.SHA256] = true
			hashes = append(hashes, r.SHA256)
		}
	}
	answers, err := c.CheckKeys(o.F.Context, hashes)
	if err != nil {
		return err
	}
	by := map[string]model.KeyCheckResult{}
	for _, a := range answers {
		by[a.SHA256] = a
	}
	for i := range results {
		a, ok := by[results[i].SHA256]
		if !ok {
			return cmdutil.Errorf("the server did not answer for the key %s…", results[i].Prefix)
		}
		results[i].Status, results[i].KeyID = a.Status, a.KeyID
	}
	return nil
}

// revokable: the caller's keys that still work.
func revokable(results []Result) (ids []string, names map[string]string) {
	names = map[string]string{}
	for _, r := range results {
		if r.KeyID == nil || (r.Status != model.StatusActive && r.Status != model.StatusExpiring) {
			continue
		}
		if _, ok := names[*r.KeyID]; !ok {
			ids = append(ids, *r.KeyID)
			names[*r.KeyID] = r.Prefix
		}
	}
	return ids, names
}

func revoke(o *Options, results []Result) error {
	ios := o.F.IOStreams
	ids, prefixes := revokable(results)
	others := 0
	for _, r := range results {
		if r.KeyID == nil && (r.Status == model.StatusActive || r.Status == model.StatusExpiring) {
			others++
		}
	}
	if others > 0 {
		fmt.Fprintf(ios.ErrOut, "%d active key(s) found belong to someone else: you cannot revoke them; tell their owner or report them to security@codesync.de\n", others)
	}
	if len(ids) == 0 {
		fmt.Fprintln(ios.ErrOut, "No active key of yours to revoke.")
		return nil
	}
	if !o.Yes {
		var list []string
		for _, id := range ids {
			list = append(list, fmt.Sprintf("%s (%s…)", id, prefixes[id]))
		}
		ok, err := ios.Confirm(fmt.Sprintf("Revoke %s? Pipelines using them will fail at once.", strings.Join(list, ", ")))
		if err != nil {
			return err
		}
		if !ok {
			return iostreams.ErrCancelled
		}
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	var failed []error
	for _, id := range ids {
		_, err := c.RevokeKey(o.F.Context, id)
		if err != nil {
			var he *api.HTTPError
			if errors.As(err, &he) && he.Code == "already_revoked" {
				err = nil
			} else {
				failed = append(failed, fmt.Errorf("%s: %w", id, err))
				fmt.Fprintf(ios.ErrOut, "failed  %s: %s\n", id, err)
				continue
			}
		}
		fmt.Fprintf(ios.ErrOut, "revoked %s (%s…)\n", id, prefixes[id])
		for i := range results {
			if results[i].KeyID != nil && *results[i].KeyID == id {
				results[i].Status, results[i].Revoked = model.StatusRevoked, true
			}
		}
	}
	return errors.Join(failed...)
}

func render(o *Options, results []Result) error {
	ios := o.F.IOStreams
	switch o.Format {
	case output.FormatJSON:
		return output.JSON(ios, results)
	case FormatSARIF:
		findings := make([]leakscan.Finding, len(results))
		for i, r := range results {
			findings[i] = r.Finding
		}
		log := leakscan.SARIF(findings, o.F.Version, func(i int) map[string]any {
			p := map[string]any{}
			if results[i].Status != "" {
				p["status"] = results[i].Status
			}
			if results[i].Revoked {
				p["revoked"] = true
			}
			return p
		})
		enc := json.NewEncoder(ios.Out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(log)
	case output.FormatCSV:
		w := csv.NewWriter(ios.Out)
		_ = w.Write([]string{"path", "commit", "line", "column", "prefix", "environment", "sha256", "status", "key_id", "revoked"})
		for _, r := range results {
			id := ""
			if r.KeyID != nil {
				id = *r.KeyID
			}
			_ = w.Write([]string{csvCell(r.Path), r.Commit, strconv.Itoa(r.Line), strconv.Itoa(r.Column), r.Prefix, r.Environment, r.SHA256, r.Status, id, strconv.FormatBool(r.Revoked)})
		}
		w.Flush()
		return w.Error()
	}
	if len(results) == 0 {
		return nil
	}
	withCommit := slices.ContainsFunc(results, func(r Result) bool { return r.Commit != "" })
	withStatus := slices.ContainsFunc(results, func(r Result) bool { return r.Status != "" })
	t := &output.Table{Header: []string{"LOCATION"}}
	if withCommit {
		t.Header = append(t.Header, "COMMIT")
	}
	t.Header = append(t.Header, "KEY", "ENV")
	if withStatus {
		t.Header = append(t.Header, "STATUS")
	}
	for _, r := range results {
		row := []string{fmt.Sprintf("%s:%d:%d", r.Path, r.Line, r.Column)}
		if withCommit {
			c := r.Commit
			if len(c) > 12 {
				c = c[:12]
			}
			row = append(row, c)
		}
		row = append(row, r.Prefix+"…", r.Environment)
		if withStatus {
			st := r.Status
			if r.Revoked {
				st = "revoked now"
			} else if r.KeyID != nil {
				st += " (yours: " + *r.KeyID + ")"
			}
			row = append(row, st)
		}
		t.AddRow(row...)
		if r.Status == model.StatusActive || r.Status == model.StatusExpiring {
			t.HighlightLast()
		}
	}
	return t.Render(ios)
}

// csvCell keeps a spreadsheet from reading a path as a formula.
func csvCell(s string) string {
	if s != "" && s != "-" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
