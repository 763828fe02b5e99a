package trustedpub

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrReplayGuardFull: the memory guard holds max unexpired entries. It fails
// closed rather than forget a jti that could still be replayed.
var ErrReplayGuardFull = errors.New("the replay guard is full")

// MemoryReplayGuard is a bounded in-memory ReplayGuard for tests and single
// processes; the server backs its guard with the store so that a restart or
// a second instance does not forget.
type MemoryReplayGuard struct {
	mu   sync.Mutex
	max  int
	now  func() time.Time
	seen map[[2]string]time.Time
}

// NewMemoryReplayGuard remembers at most max unexpired tokens (max ≥ 1);
// now may be nil (time.Now).
func NewMemoryReplayGuard(max int, now func() time.Time) *MemoryReplayGuard {
	if max < 1 {
		max = 1
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayGuard{max: max, now: now, seen: map[[2]string]time.Time{}}
}

// Use implements ReplayGuard.
func (g *MemoryReplayGuard) Use(_ context.Context, issuer, jti string, expiry time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := [2]string{issuer, jti}
	now := g.now()
	if exp, ok := g.seen[k]; ok && !now.After(exp) {
		return ErrReplayed
	}
	if len(g.seen) >= g.max {
		for k, exp := range g.seen {
			if now.After(exp) {
				delete(g.seen, k)
			}
		}
		if len(g.seen) >= g.max {
			return ErrReplayGuardFull
		}
	}
	g.seen[k] = expiry
	return nil
}

// Len is the number of entries held (expired ones included until pruned).
func (g *MemoryReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}
