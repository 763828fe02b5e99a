// Package scripttest sets up the testscript sessions of the CLI: a clean
// environment per script and the commands scripts use to start real servers.
package scripttest

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// Params returns the testscript parameters for the scripts in dir.
func Params(t *testing.T, dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Each script gets its own config folder and no keyring: nothing of
			// the developer's machine leaks in, and no keyring is touched.
			env.Setenv("CODESYNC_CONFIG_DIR", env.WorkDir+"/.codesync")
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CONFIG_HOME", "")
			env.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
			env.Setenv("XDG_RUNTIME_DIR", "")
			env.Setenv("CODESYNC_SERVER", "")
			env.Setenv("CODESYNC_AUTH_TOKEN", "")
			env.Setenv("CODESYNC_PROFILE", "")
			env.Setenv("CODESYNC_KEYRING", "")
			env.Setenv("NO_COLOR", "")
			return nil
		},
		Cmds: commands(),
	}
}

func commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){}
}
