package authcmd

import (
	"context"
	"slices"
	"testing"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/iostreams"
)

func testFactory() *cmdutil.Factory {
	ios, _, _, _ := iostreams.Test()
	return &cmdutil.Factory{IOStreams: ios, Flags: &cmdutil.GlobalFlags{}, Context: context.Background()}
}

// TestRefreshFlags: --scopes is parsed and checked; --device and --web
// exclude each other (issue 14.17).
func TestRefreshFlags(t *testing.T) {
	var got *RefreshOptions
	cmd := NewCmdRefresh(testFactory(), func(o *RefreshOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--scopes", "registry:publish,audit:read", "--device"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.AddScopes, []string{"audit:read", "registry:publish"}) || !got.Device {
		t.Fatalf("%+v", got)
	}
	for _, bad := range [][]string{{"--scopes", "registry:everything"}, {"--device", "--web"}, {"extra"}} {
		cmd := NewCmdRefresh(testFactory(), func(o *RefreshOptions) error { return nil })
		cmd.SetArgs(bad)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if ee, ok := err.(*cmdutil.ExitError); !ok || ee.Code != cmdutil.ExitUsage {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
}
