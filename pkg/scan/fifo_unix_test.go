//go:build unix

package scan

import "syscall"

func syscallMkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }
