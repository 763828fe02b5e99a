// Package iostreams carries the process's standard streams and what is known
// about them (terminal or not, colour allowed or not), so commands never look at
// os.Stdout themselves and tests can hand in buffers.
package iostreams

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IOStreams is what a command may read from and write to.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	noColor   bool
	jq        string
}

// System returns streams bound to the process's stdin, stdout and stderr.
// CODESYNC_FORCE_TTY=1 makes all three count as terminals (for tests of the
// interactive paths, as gh's GH_FORCE_TTY); NO_COLOR turns colour off.
func System() *IOStreams {
	force := os.Getenv("CODESYNC_FORCE_TTY") != ""
	s := &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		stdinTTY:  force || isTerminal(os.Stdin),
		stdoutTTY: force || isTerminal(os.Stdout),
		stderrTTY: force || isTerminal(os.Stderr),
	}
	if os.Getenv("NO_COLOR") != "" { // no-color.org: present and not empty
		s.noColor = true
	}
	return s
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Test returns streams on buffers: stdin, stdout, stderr.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, noColor: true}, in, out, errOut
}

// SetTTY marks all three streams as terminals or not (tests).
func (s *IOStreams) SetTTY(tty bool) { s.stdinTTY, s.stdoutTTY, s.stderrTTY = tty, tty, tty }

// SetNoColor turns colour off (the --no-color flag).
func (s *IOStreams) SetNoColor() { s.noColor = true }

func (s *IOStreams) IsStdinTTY() bool  { return s.stdinTTY }
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetJQ sets the --jq expression of this invocation: JSON output is
// filtered through it.
func (s *IOStreams) SetJQ(expr string) { s.jq = expr }

// JQ is the --jq expression, or "".
func (s *IOStreams) JQ() string { return s.jq }

// ColorEnabled: colour only on a terminal, never with NO_COLOR or --no-color.
func (s *IOStreams) ColorEnabled() bool { return s.stdoutTTY && !s.noColor }

// CanPrompt: a person can answer only when both stdin and stderr are terminals.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stderrTTY }

// ErrCancelled is returned when the person declines at a prompt.
var ErrCancelled = errors.New("cancelled")

// Confirm asks a yes/no question on stderr and reads the answer from stdin.
func (s *IOStreams) Confirm(question string) (bool, error) {
	fmt.Fprintf(s.ErrOut, "%s [y/N] ", question)
	line, err := bufio.NewReader(s.In).ReadString('\n')
	if err != nil && line == "" {
		return false, ErrCancelled
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
