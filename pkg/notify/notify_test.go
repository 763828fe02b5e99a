package notify

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// fakeClock is the injected clock: the test moves it by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// TestDueWalk14Days walks an injected clock through 14 days in 1-hour steps,
// deduplicating like the queue does (unique per key+threshold), and checks
// which notice each key got and when.
func TestDueWalk14Days(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	day := 24 * time.Hour
	keys := []Key{
		{ID: "k14", Owner: "ann", ExpiresAt: start.Add(14 * day), Status: StatusActive},
		{ID: "k10", Owner: "ann", ExpiresAt: start.Add(10*day + 5*time.Hour), Status: StatusActive},
		{ID: "k2", Owner: "bob", ExpiresAt: start.Add(2 * day), Status: StatusActive},
		{ID: "k30", Owner: "bob", ExpiresAt: start.Add(30 * day), Status: StatusActive},
		{ID: "gone", Owner: "bob", ExpiresAt: start.Add(-30 * day), Status: StatusActive},
		{ID: "justgone", Owner: "bob", ExpiresAt: start.Add(-1 * day), Status: StatusActive},
		{ID: "never", Owner: "bob", Status: StatusActive},
		{ID: "rot", Owner: "cid", ExpiresAt: start.Add(5 * day), Status: StatusRotated},
		{ID: "rev", Owner: "cid", ExpiresAt: start.Add(5 * day), Status: StatusRevoked},
		{ID: "revmid", Owner: "cid", ExpiresAt: start.Add(13 * day), Status: StatusActive},
	}
	sent := map[string]time.Time{} // "key/threshold" -> when first due
	for clock.Now().Sub(start) <= 14*day {
		if clock.Now().Sub(start) == 6*day {
			keys[len(keys)-1].Status = StatusRevoked // revoked after its 14d notice
		}
		for _, n := range Due(keys, clock.Now()) {
			id := n.KeyID + "/" + string(n.Threshold)
			if _, ok := sent[id]; !ok {
				sent[id] = clock.Now()
			}
		}
		clock.Advance(time.Hour)
	}
	got := map[string]string{}
	for id, at := range sent {
		got[id] = fmt.Sprintf("+%s", at.Sub(start))
	}
	want := map[string]string{
		"k14/14d":     "+0s",
		"k14/3d":      "+264h0m0s", // day 11
		"k14/0d":      "+336h0m0s", // day 14
		"k10/14d":     "+0s",
		"k10/3d":      "+173h0m0s", // 7 days 5 hours
		"k10/0d":      "+245h0m0s",
		"k2/3d":       "+0s", // 14d superseded, not sent late
		"k2/0d":       "+48h0m0s",
		"justgone/0d": "+0s",
		"revmid/14d":  "+0s", // then revoked: no 3d, no 0d
		// k30: its 14d notice falls after the walk; gone, never, rot, rev: none
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notices:\n got  %v\n want %v", got, want)
	}
}

func TestDueExcludesRotatedRevoked(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, st := range []string{StatusRotated, StatusRevoked, "unknown"} {
		n := Due([]Key{{ID: "a", ExpiresAt: now, Status: st}}, now)
		if len(n) != 0 {
			t.Errorf("status %s: got %v, want no notice", st, n)
		}
	}
	n := Due([]Key{{ID: "a", Owner: "o", ExpiresAt: now, Status: StatusActive}}, now)
	if len(n) != 1 || n[0].Threshold != Expired || n[0].Owner != "o" {
		t.Errorf("active key at expiry: got %v", n)
	}
}

func TestDueBoundaries(t *testing.T) {
	exp := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)
	k := []Key{{ID: "a", ExpiresAt: exp, Status: StatusActive}}
	cases := []struct {
		at   time.Time
		want Threshold
	}{
		{exp.Add(-14*24*time.Hour - time.Nanosecond), ""},
		{exp.Add(-14 * 24 * time.Hour), Before14d},
		{exp.Add(-3*24*time.Hour - time.Nanosecond), Before14d},
		{exp.Add(-3 * 24 * time.Hour), Before3d},
		{exp.Add(-time.Nanosecond), Before3d},
		{exp, Expired},
		{exp.Add(ExpiredWindow - time.Nanosecond), Expired},
		{exp.Add(ExpiredWindow), ""},
	}
	for _, c := range cases {
		n := Due(k, c.at)
		var got Threshold
		if len(n) == 1 {
			got = n[0].Threshold
		}
		if got != c.want {
			t.Errorf("at %s: got %q, want %q", c.at, got, c.want)
		}
	}
}

func TestNextCheck(t *testing.T) {
	exp := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)
	k := []Key{
		{ID: "a", ExpiresAt: exp, Status: StatusActive},
		{ID: "b", ExpiresAt: exp.Add(-time.Hour), Status: StatusRevoked},
	}
	now := exp.Add(-10 * 24 * time.Hour)
	if got, want := NextCheck(k, now), exp.Add(-3*24*time.Hour); !got.Equal(want) {
		t.Errorf("NextCheck = %s, want %s", got, want)
	}
	if got := NextCheck(k, exp); !got.IsZero() {
		t.Errorf("NextCheck after all thresholds = %s, want zero", got)
	}
}

func TestParseThreshold(t *testing.T) {
	for _, s := range []string{"14d", "3d", "0d"} {
		if _, err := ParseThreshold(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseThreshold("7d"); err == nil {
		t.Error("7d accepted")
	}
}
