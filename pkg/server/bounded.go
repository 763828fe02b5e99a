package server

import (
	"container/list"
	"net/netip"
)

// lru is a map bounded to max entries: when full, the entry touched longest
// ago is evicted, one at a time, never everything at once (so junk cannot
// wipe the state of others by filling the map). Not safe for concurrent use:
// its owner holds a lock.
type lru[V any] struct {
	max int
	ll  *list.List // front: most recently touched
	m   map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, ll: list.New(), m: map[string]*list.Element{}}
}

// get returns the value of key without touching it.
func (l *lru[V]) get(key string) (V, bool) {
	if e, ok := l.m[key]; ok {
		return e.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

// put sets key to v and makes it the most recent entry, evicting the oldest
// when the map is full.
func (l *lru[V]) put(key string, v V) {
	if e, ok := l.m[key]; ok {
		e.Value.(*lruEntry[V]).val = v
		l.ll.MoveToFront(e)
		return
	}
	for l.ll.Len() >= l.max {
		l.removeElement(l.ll.Back())
	}
	l.m[key] = l.ll.PushFront(&lruEntry[V]{key: key, val: v})
}

func (l *lru[V]) del(key string) {
	if e, ok := l.m[key]; ok {
		l.removeElement(e)
	}
}

func (l *lru[V]) removeElement(e *list.Element) {
	l.ll.Remove(e)
	delete(l.m, e.Value.(*lruEntry[V]).key)
}

// oldest returns the least recently touched entry.
func (l *lru[V]) oldest() (string, V, bool) {
	if e := l.ll.Back(); e != nil {
		en := e.Value.(*lruEntry[V])
		return en.key, en.val, true
	}
	var zero V
	return "", zero, false
}

func (l *lru[V]) len() int { return l.ll.Len() }

// netPrefix is the network an address is counted by for anonymous and
// failed-authentication limits: its /24 (IPv4) or /64 (IPv6). One host
// usually holds a whole /64, and a /24 is cheap to spread over, so counting
// each exact address would multiply every limit.
func netPrefix(a netip.Addr) string {
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}
