//go:build !unix

package scan

import "errors"

func syscallMkfifo(string) error { return errors.New("no FIFOs here") }
