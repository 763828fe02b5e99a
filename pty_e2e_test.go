package main

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptySession is the CLI running on a real pseudo-terminal, as a person at a
// terminal runs it: stdin, stdout and stderr are all the terminal.
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  io.ReadWriteCloser
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func startPTY(t *testing.T, cols uint16, env []string, args ...string) *ptySession {
	t.Helper()
	cmd := cli(t, append([]string{"TERM=xterm"}, env...), args...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: cols, Rows: 40})
	if err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, cmd: cmd, tty: f, done: make(chan struct{})}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			// answer the colour queries (OSC 10, 11, then a cursor position
			// request) as a dark terminal does, so that lipgloss need not
			// wait for its timeout
			for _, q := range []string{"10", "11"} {
				if bytes.Contains(b[:n], []byte("\x1b]"+q+";?")) {
					f.Write([]byte("\x1b]" + q + ";rgb:0000/0000/0000\x1b\\"))
				}
			}
			if bytes.Contains(b[:n], []byte("\x1b[6n")) {
				f.Write([]byte("\x1b[1;1R"))
			}
			if err != nil {
				close(s.done)
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); f.Close() })
	return s
}

// output is everything the terminal showed so far.
func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *ptySession) waitFor(want string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(s.output(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("terminal never showed %q; it shows:\n%s", want, s.output())
}

func (s *ptySession) send(keys string) {
	s.t.Helper()
	if _, err := s.tty.Write([]byte(keys)); err != nil {
		s.t.Fatal(err)
	}
}

// exit waits (at most within) for the process and returns its exit code.
func (s *ptySession) exit(within time.Duration) int {
	s.t.Helper()
	ch := make(chan struct{})
	go func() { s.cmd.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(within):
		s.t.Fatalf("still running after %s; the terminal shows:\n%s", within, s.output())
	}
	select { // the rest of the output
	case <-s.done:
	case <-time.After(time.Second):
	}
	return s.cmd.ProcessState.ExitCode()
}
