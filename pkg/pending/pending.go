// Package pending remembers the Idempotency-Key of a rotation until its new
// token has been shown, so that a rerun after a crash or a lost connection
// gets the same answer from the server instead of a second rotation (whose
// first token would be lost for good).
package pending

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/atomicfile"
)

// maxAge: the server keeps idempotent answers at least this long.
const maxAge = 24 * time.Hour

// Rotation is one pending rotation of a key.
type Rotation struct {
	path string
	Key  string
}

// ForRotation returns the pending rotation of keyID in dir, reusing a key
// written by an interrupted run, or writing a fresh one (0600, atomically)
// before the request is sent.
func ForRotation(dir, keyID string, fresh func() string) (*Rotation, error) {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, keyID)
	p := filepath.Join(dir, "pending", "rotate-"+safe)
	if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) < maxAge {
		if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
			return &Rotation{path: p, Key: strings.TrimSpace(string(b))}, nil
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	r := &Rotation{path: p, Key: fresh()}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	return r, atomicfile.WriteFile(p, []byte(r.Key+"\n"), 0o600)
}

// Done forgets the rotation once its answer has been shown.
func (r *Rotation) Done() { _ = os.Remove(r.path) }
