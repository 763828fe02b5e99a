package server

import (
	"sync"
	"time"

	"github.com/codesync/codesync-cli/pkg/server/store"
)

// credCacheTTL bounds how long a cached key and its user are trusted without
// asking the database. Changes made through this server (revoke, rotate)
// drop the entry at once; changes made to the database by another process
// (`server user suspend`) take effect within this time.
const credCacheTTL = 5 * time.Second

// credCache saves the two SQLite lookups of every authenticated request.
type credCache struct {
	mu sync.Mutex
	m  *lru[cachedCred] // by token hash; the oldest entry goes when full
}

type cachedCred struct {
	key  *store.KeyRecord
	user *store.User
	at   time.Time
}

func newCredCache() *credCache { return &credCache{m: newLRU[cachedCred](10000)} }

func (c *credCache) get(hash []byte, now time.Time) (*store.KeyRecord, *store.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m.get(string(hash))
	if !ok || now.Sub(e.at) > credCacheTTL || now.Before(e.at) {
		return nil, nil, false
	}
	return e.key, e.user, true
}

func (c *credCache) put(k *store.KeyRecord, u *store.User, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.put(string(k.TokenHash), cachedCred{key: k, user: u, at: now})
}

func (c *credCache) drop(hash []byte) {
	c.mu.Lock()
	c.m.del(string(hash))
	c.mu.Unlock()
}
