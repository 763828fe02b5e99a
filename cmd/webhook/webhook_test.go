package webhook

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/config"
	"github.com/codesync/codesync-cli/pkg/iostreams"
)

func testFactory() *cmdutil.Factory {
	ios, _, _, _ := iostreams.Test()
	return &cmdutil.Factory{IOStreams: ios, Flags: &cmdutil.GlobalFlags{}, Context: context.Background(),
		Config: func() (*config.Effective, error) { return nil, errors.New("no configuration in this test") }}
}

func run(cmd *cobra.Command, args ...string) error {
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd.Execute()
}

func usageError(t *testing.T, err error, what string) {
	t.Helper()
	if ee, ok := err.(*cmdutil.ExitError); !ok || ee.Code != cmdutil.ExitUsage {
		t.Errorf("%s: %v, want a usage error (exit %d)", what, err, cmdutil.ExitUsage)
	}
}

// TestAddFlags: URL, --events and --org reach the options; an unknown
// event or a missing URL is a usage error before any request.
func TestAddFlags(t *testing.T) {
	f := testFactory()
	f.Flags.Output = "json"
	var got *AddOptions
	if err := run(NewCmdAdd(f, func(o *AddOptions) error { got = o; return nil }), "https://h.example/x", "--events", "key.expiring,key.revoked", "--org", "acme"); err != nil {
		t.Fatal(err)
	}
	if got.URL != "https://h.example/x" || got.Events != "key.expiring,key.revoked" || got.Org != "acme" || got.Format != "json" {
		t.Fatalf("%+v", got)
	}
	called := false
	usageError(t, run(NewCmdAdd(testFactory(), func(*AddOptions) error { called = true; return nil }), "https://h.example/x", "--events", "key.nope"), "unknown event")
	usageError(t, run(NewCmdAdd(testFactory(), func(*AddOptions) error { called = true; return nil })), "no URL")
	if called {
		t.Error("a usage error reached the run function")
	}
}

// TestIDArguments: every command that takes an ID takes exactly one.
func TestIDArguments(t *testing.T) {
	var ids []string
	cmds := []func() *cobra.Command{
		func() *cobra.Command {
			return NewCmdRemove(testFactory(), func(o *RemoveOptions) error { ids = append(ids, o.ID); return nil })
		},
		func() *cobra.Command {
			return NewCmdDeliveries(testFactory(), func(o *DeliveriesOptions) error { ids = append(ids, o.ID); return nil })
		},
		func() *cobra.Command {
			return NewCmdRedeliver(testFactory(), func(o *RedeliverOptions) error { ids = append(ids, o.ID); return nil })
		},
		func() *cobra.Command {
			return NewCmdRotateSecret(testFactory(), func(o *RotateSecretOptions) error { ids = append(ids, o.ID); return nil })
		},
	}
	for i, mk := range cmds {
		if err := run(mk(), "wh_1"); err != nil {
			t.Errorf("command %d: %v", i, err)
		}
		usageError(t, run(mk()), "no ID")
		usageError(t, run(mk(), "a", "b"), "two IDs")
	}
	if len(ids) != len(cmds) || slices.ContainsFunc(ids, func(s string) bool { return s != "wh_1" }) {
		t.Errorf("ids %v", ids)
	}
}

// TestListOrg: --org reaches the options; bad -o is a usage error.
func TestListOrg(t *testing.T) {
	var got *ListOptions
	if err := run(NewCmdList(testFactory(), func(o *ListOptions) error { got = o; return nil }), "--org", "acme"); err != nil {
		t.Fatal(err)
	}
	if got.Org != "acme" || got.Format != "table" {
		t.Fatalf("%+v", got)
	}
	f := testFactory()
	f.Flags.Output = "yaml"
	usageError(t, run(NewCmdList(f, func(*ListOptions) error { return nil })), "-o yaml")
}

// TestCompleteEvents: the last element of a comma list is completed, and
// events already given are not offered again.
func TestCompleteEvents(t *testing.T) {
	out, _ := completeEvents(nil, nil, "key.expiring,key.re")
	if !slices.Contains(out, "key.expiring,key.revoked") || slices.Contains(out, "key.expiring,key.expiring") {
		t.Errorf("%v", out)
	}
	out, _ = completeEvents(nil, nil, "")
	if len(out) != 7 || !strings.HasPrefix(out[0], "key.") {
		t.Errorf("%v", out)
	}
}
