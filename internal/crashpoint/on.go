//go:build crashpoints

package crashpoint

import (
	"os"
	"sync"
)

// Enabled reports whether this binary was built with the crash points.
const Enabled = true

// target is read once per process, not at every Hit (an export calls Hit for
// each chunk it writes).
var target = sync.OnceValue(func() string { return os.Getenv("CODESYNC_TEST_KILL_AT") })

// Hit kills this process at once if the test asked for this point: SIGKILL
// on Unix, TerminateProcess on Windows, so nothing deferred runs.
func Hit(name string) {
	if t := target(); t == "" || t != name {
		return
	}
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	select {} // the kill is on its way
}
