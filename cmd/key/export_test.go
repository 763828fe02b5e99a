package key

import (
	"path/filepath"
	"testing"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
)

// TestAuditExportFormatFlags: -o and its alias --format choose the format;
// they must agree; a missing --output-file folder is a usage error (issue
// 14.3, 14.5).
func TestAuditExportFormatFlags(t *testing.T) {
	run := func(output string, args ...string) (*AuditExportOptions, error) {
		f := testFactory()
		f.Flags.Output = output
		var got *AuditExportOptions
		cmd := NewCmdAuditExport(f, func(o *AuditExportOptions) error { got = o; return nil })
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		return got, cmd.Execute()
	}
	for _, c := range []struct {
		output string
		args   []string
		want   string
	}{
		{"", nil, "json"},
		{"csv", nil, "csv"},
		{"", []string{"--format", "ndjson"}, "ndjson"},
		{"csv", []string{"--format", "csv"}, "csv"},
	} {
		got, err := run(c.output, c.args...)
		if err != nil || got.Export.Format != c.want {
			t.Errorf("-o %q %v: %v %+v, want %s", c.output, c.args, err, got, c.want)
		}
	}
	for _, c := range []struct {
		output string
		args   []string
	}{
		{"table", nil},
		{"bogus", nil},
		{"", []string{"--format", "yaml"}},
		{"json", []string{"--format", "csv"}},
		{"", []string{"--output-file", filepath.Join(t.TempDir(), "missing", "a.csv")}},
	} {
		_, err := run(c.output, c.args...)
		if ee, ok := err.(*cmdutil.ExitError); !ok || ee.Code != cmdutil.ExitUsage {
			t.Errorf("-o %q %v: %v, want a usage error", c.output, c.args, err)
		}
	}
}
