// Package cmdutil holds what every command shares: the Factory, the exit-code
// error type, and small helpers for flags and arguments.
package cmdutil

import (
	"fmt"
)

// Exit codes, as `codesync-cli help exit-codes` documents them.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitCancelled   = 3
	ExitAuth        = 4
	ExitForbidden   = 5
	ExitNotFound    = 6
	ExitRateLimited = 7
	ExitConflict    = 8
	ExitUnavailable = 9
)

// ExitError is an error with its exit code, an error code for `-o json`
// consumers and an optional hint.
type ExitError struct {
	Code    int
	ErrCode string
	Msg     string
	Hint    string
	Err     error
}

func (e *ExitError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return "error"
}

func (e *ExitError) Unwrap() error { return e.Err }

// UsageErrorf is exit 2: bad flag, bad argument, refused without a terminal.
func UsageErrorf(format string, a ...any) error {
	return &ExitError{Code: ExitUsage, ErrCode: "usage", Msg: fmt.Sprintf(format, a...)}
}

// Errorf is exit 1.
func Errorf(format string, a ...any) error {
	return &ExitError{Code: ExitFailure, ErrCode: "error", Msg: fmt.Sprintf(format, a...)}
}
