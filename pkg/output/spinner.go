package output

import (
	"fmt"
	"io"
	"time"
)

// Spinner shows msg with a turning mark on w after the first second, only
// when enabled (a terminal): a quick wait stays silent. The returned func stops
// it and clears the line.
func Spinner(w io.Writer, enabled bool, msg string) (stop func()) {
	if !enabled {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		frames := `|/-\`
		t := time.NewTicker(120 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		shown := false
		for i := 0; ; i++ {
			select {
			case <-done:
				if shown {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
				if time.Since(start) < time.Second {
					continue
				}
				shown = true
				fmt.Fprintf(w, "\r\033[K%c %s", frames[i%len(frames)], msg)
			}
		}
	}()
	return func() { close(done); <-finished }
}
