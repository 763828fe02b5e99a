package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/codesync/codesync-cli/internal/scripttest"
)

// TestMain lets testscript run the real binary's main as `codesync-cli`.
func TestMain(m *testing.M) {
	// re-executed as the CLI itself by tests that measure the process
	if os.Getenv("CODESYNC_RUN_MAIN") == "1" {
		code := run()
		if p := os.Getenv("CODESYNC_REPORT_HWM"); p != "" {
			// VmHWM is this process's own peak RSS; wait4's ru_maxrss would
			// include the parent's memory inherited across the fork
			if b, err := os.ReadFile("/proc/self/status"); err == nil {
				_ = os.WriteFile(p, b, 0o600)
			}
		}
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"codesync-cli": func() {
			flush := scripttest.Tee()
			code := run()
			flush()
			os.Exit(code)
		},
	})
}

// TestScripts runs every testdata/script/*.txtar: real command sessions, their
// output and exit codes, against real servers started for each script.
func TestScripts(t *testing.T) {
	testscript.Run(t, scripttest.Params(t, "testdata/script", false))
}

// TestScriptsTraced runs the whole suite again with the --debug trace of
// every command written to a file, and fails if any secret shows up in it.
func TestScriptsTraced(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite again, traced")
	}
	testscript.Run(t, scripttest.Params(t, "testdata/script", true))
}
