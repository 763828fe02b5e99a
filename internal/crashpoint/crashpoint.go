// Package crashpoint lets the crash-safety tests kill the CLI with SIGKILL at
// a named point (CODESYNC_TEST_KILL_AT=name): the moments where a torn write
// or a lost answer would hurt. Unset, Hit is a string comparison.
package crashpoint

import (
	"os"
	"syscall"
)

// Hit kills this process at once if the test asked for this point.
func Hit(name string) {
	if os.Getenv("CODESYNC_TEST_KILL_AT") == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
