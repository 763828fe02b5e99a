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
	// inFd is stdin's descriptor when it is a real terminal, else -1:
	// prompts then read it in raw mode, so Ctrl-C answers at once
	inFd int
	// outFd is stdout's descriptor when it is a real terminal, else -1
	outFd int
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
		inFd:      -1,
		outFd:     -1,
	}
	if isTerminal(os.Stdin) {
		s.inFd = int(os.Stdin.Fd())
	}
	if isTerminal(os.Stdout) {
		s.outFd = int(os.Stdout.Fd())
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
	return &IOStreams{In: in, Out: out, ErrOut: errOut, noColor: true, inFd: -1, outFd: -1}, in, out, errOut
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

// ErrCancelled is returned when the person declines or interrupts a prompt.
var ErrCancelled = errors.New("cancelled")

// Confirm asks a yes/no question on stderr and reads the answer from stdin.
// On a terminal, Ctrl-C or Ctrl-D cancels at once (ErrCancelled, exit 3).
func (s *IOStreams) Confirm(question string) (bool, error) {
	fmt.Fprintf(s.ErrOut, "%s [y/N] ", question)
	line, err := s.readLine(false)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// ReadSecret shows prompt on stderr and reads one line without echoing it:
// on a terminal each character shows as '*'; Ctrl-C, or Ctrl-D on an empty
// line, cancels at once (ErrCancelled).
func (s *IOStreams) ReadSecret(prompt string) (string, error) {
	fmt.Fprint(s.ErrOut, prompt)
	line, err := s.readLine(true)
	return strings.TrimSpace(line), err
}

// Width is the terminal's width in columns when stdout is a real terminal,
// else 0 (no limit: piped output is never cut).
func (s *IOStreams) Width() int {
	if s.outFd < 0 {
		return 0
	}
	w, _, err := term.GetSize(s.outFd)
	if err != nil || w <= 0 {
		return 80
	}
	return w
}

// readLine reads one line. On a real terminal it reads in raw mode (so Ctrl-C
// arrives as a byte, not as a signal the blocked read would never notice) and
// echoes by itself, masked or not; elsewhere it reads a plain line.
func (s *IOStreams) readLine(mask bool) (string, error) {
	if s.inFd < 0 {
		line, err := bufio.NewReader(s.In).ReadString('\n')
		if err != nil && line == "" {
			return "", ErrCancelled
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	old, err := term.MakeRaw(s.inFd)
	if err != nil {
		return "", err
	}
	defer term.Restore(s.inFd, old)
	var buf []rune
	r := bufio.NewReader(s.In)
	for {
		c, _, err := r.ReadRune()
		if err != nil {
			fmt.Fprint(s.ErrOut, "\r\n")
			return "", ErrCancelled
		}
		switch c {
		case 3: // Ctrl-C
			fmt.Fprint(s.ErrOut, "^C\r\n")
			return "", ErrCancelled
		case 4: // Ctrl-D: cancels an empty line, ends a typed one
			fmt.Fprint(s.ErrOut, "\r\n")
			if len(buf) == 0 {
				return "", ErrCancelled
			}
			return string(buf), nil
		case '\r', '\n':
			fmt.Fprint(s.ErrOut, "\r\n")
			return string(buf), nil
		case 127, 8: // backspace
			if len(buf) > 0 {
				buf = buf[:len(buf)-1]
				fmt.Fprint(s.ErrOut, "\b \b")
			}
		case 21: // Ctrl-U: erase the line
			for range buf {
				fmt.Fprint(s.ErrOut, "\b \b")
			}
			buf = buf[:0]
		case 27: // an escape sequence (arrow keys): ignored
			if b, err := r.Peek(1); err == nil && b[0] == '[' {
				_, _ = r.ReadByte()
				for {
					b, err := r.ReadByte()
					if err != nil || (b >= 0x40 && b <= 0x7e) {
						break
					}
				}
			}
		default:
			if c < 32 {
				continue
			}
			buf = append(buf, c)
			if mask {
				fmt.Fprint(s.ErrOut, "*")
			} else {
				fmt.Fprint(s.ErrOut, string(c))
			}
		}
	}
}
