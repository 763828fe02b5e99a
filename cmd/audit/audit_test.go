package audit

import (
	"context"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/iostreams"
)

func testFactory() *cmdutil.Factory {
	ios, _, _, _ := iostreams.Test()
	return &cmdutil.Factory{IOStreams: ios, Flags: &cmdutil.GlobalFlags{}, Context: context.Background(), Now: time.Now}
}

// TestEventsFlags: --reverse, --follow and -o ndjson parse; -o csv does not
// (issue 14.12, 14.3).
func TestEventsFlags(t *testing.T) {
	f := testFactory()
	f.Flags.Output = "ndjson"
	var got *EventsOptions
	cmd := NewCmdEvents(f, func(o *EventsOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--reverse", "--follow", "--limit", "5"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.Reverse || !got.Follow || got.Filter.Limit != 5 || got.Format != "ndjson" {
		t.Fatalf("%+v", got)
	}
	f = testFactory()
	f.Flags.Output = "csv"
	cmd = NewCmdEvents(f, func(o *EventsOptions) error { return nil })
	cmd.SetArgs(nil)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil {
		t.Fatal("-o csv accepted")
	}
}
