package servercmd

import (
	"context"
	"testing"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/model"
)

// TestServerEnvironmentFlag: server --dev is a sandbox unless told otherwise;
// prod and dev are accepted for production and sandbox (issue 14.13).
func TestServerEnvironmentFlag(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--dev"}, model.EnvSandbox},
		{[]string{"--dev", "--environment", "production"}, model.EnvProduction},
		{[]string{"--dev", "--environment", "prod"}, model.EnvProduction},
		{[]string{"--db", "x.sqlite"}, model.EnvProduction},
		{[]string{"--db", "x.sqlite", "--environment", "dev"}, model.EnvSandbox},
		{[]string{"--db", "x.sqlite", "--environment", "sandbox"}, model.EnvSandbox},
	}
	for _, c := range cases {
		ios, _, _, _ := iostreams.Test()
		f := &cmdutil.Factory{IOStreams: ios, Flags: &cmdutil.GlobalFlags{}, Context: context.Background()}
		var got string
		cmd := NewCmdServer(f, func(o *Options) error { got = o.Environment; return nil })
		cmd.SetArgs(c.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got != c.want {
			t.Errorf("%v: environment %q, want %q", c.args, got, c.want)
		}
	}
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Flags: &cmdutil.GlobalFlags{}, Context: context.Background()}
	cmd := NewCmdServer(f, func(o *Options) error { return nil })
	cmd.SetArgs([]string{"--environment", "staging"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil {
		t.Fatal("--environment staging accepted")
	}
}
