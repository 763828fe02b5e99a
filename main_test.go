package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/codesync/codesync-cli/internal/scripttest"
)

// TestMain lets testscript run the real binary's main as `codesync-cli`.
func TestMain(m *testing.M) {
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
	testscript.Run(t, scripttest.Params(t, "testdata/script"))
}
