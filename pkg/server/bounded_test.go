package server

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Finding 7: junk failures never wipe a victim's lockout.
func TestThrottleSurvivesJunk(t *testing.T) {
	var th signInThrottle
	now := time.Now()
	for range signInFailures {
		th.failed(now, "user:victim")
	}
	// the map used to be cleared whole past 10,000 entries
	for i := range 20_000 {
		th.failed(now.Add(time.Second), fmt.Sprintf("user:junk-%d", i), "ip:2001:db8::/64")
	}
	if !th.blocked(now.Add(time.Minute), "user:victim") {
		t.Fatal("20,000 junk failures wiped the victim's lockout")
	}
}

func TestLRUEvictsTheOldestOnly(t *testing.T) {
	l := newLRU[int](100)
	for i := range 150 {
		l.put(fmt.Sprint(i), i)
		l.get("0") // reading does not keep an entry alive
	}
	if l.len() != 100 {
		t.Fatalf("%d entries, want 100", l.len())
	}
	if _, ok := l.get("49"); ok {
		t.Fatal("an old entry survived")
	}
	if v, ok := l.get("50"); !ok || v != 50 {
		t.Fatal("a recent entry was evicted")
	}
	l.put("50", 51) // touched: now the newest
	l.put("new", 0)
	if _, ok := l.get("50"); !ok {
		t.Fatal("a touched entry was evicted")
	}
	if _, ok := l.get("51"); ok {
		t.Fatal("the oldest entry was kept")
	}
}

func TestNetPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.2.200": "127.0.2.0/24", "203.0.113.7": "203.0.113.0/24", "::ffff:203.0.113.7": "203.0.113.0/24",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "::1": "::/64",
	} {
		if got := netPrefix(netip.MustParseAddr(in)); got != want {
			t.Errorf("netPrefix(%s) = %s, want %s", in, got, want)
		}
	}
}
