// Package crashpoint lets the crash-safety tests kill the CLI at a named point
// (CODESYNC_TEST_KILL_AT=name): the moments where a torn write or a lost
// answer would hurt.
//
// The points exist only in binaries built with `-tags crashpoints` (the test
// builds of `make test`). In a release build Hit is an empty function and
// Enabled is false, so the environment variable is never read and its name is
// not in the binary; scripts/cross-build.sh checks that for every release
// target.
package crashpoint
