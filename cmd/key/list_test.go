package key

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/iostreams"
)

func testFactory() *cmdutil.Factory {
	ios, _, _, _ := iostreams.Test()
	return &cmdutil.Factory{IOStreams: ios, Flags: &cmdutil.GlobalFlags{}, Context: context.Background(), Now: time.Now}
}

// TestListFilterFlags: --status, --expiring-within and --name parse into
// the options; expired or revoked imply --all; bad values are usage errors
// (issue 14.15).
func TestListFilterFlags(t *testing.T) {
	f := testFactory()
	f.Flags.Output = "json"
	var got *ListOptions
	cmd := NewCmdList(f, func(o *ListOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--status", "expiring,revoked", "--expiring-within", "14d", "--name", "ci"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Statuses, []string{"expiring", "revoked"}) || !got.All || got.ExpiringWithin != 14*24*time.Hour || got.Name != "ci" {
		t.Fatalf("%+v", got)
	}
	for _, bad := range [][]string{{"--status", "gone"}, {"--expiring-within", "soon"}, {"--expiring-within", "-1d"}} {
		cmd := NewCmdList(testFactory(), func(o *ListOptions) error { return nil })
		cmd.SetArgs(bad)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if ee, ok := err.(*cmdutil.ExitError); !ok || ee.Code != cmdutil.ExitUsage {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
}

// TestRotateExpiresFlag: without --expires the request leaves the lifetime
// to the server (the old key's); with it, it is sent (issue 14.14).
func TestRotateExpiresFlag(t *testing.T) {
	var got *RotateOptions
	cmd := NewCmdRotate(testFactory(), func(o *RotateOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"key_x"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Expires != 0 {
		t.Fatalf("no --expires: %v, want 0 (the old key's lifetime)", got.Expires)
	}
	cmd = NewCmdRotate(testFactory(), func(o *RotateOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"key_x", "--expires", "30d"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Expires != 30*24*time.Hour {
		t.Fatalf("--expires 30d: %v", got.Expires)
	}
}
