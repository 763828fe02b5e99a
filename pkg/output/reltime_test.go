package output

import (
	"testing"
	"time"
)

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	cases := map[time.Duration]string{
		9*24*time.Hour - time.Second: "in 9 days",
		-3 * time.Hour:               "3 hours ago",
		10 * time.Second:             "in less than a minute",
		-10 * time.Second:            "just now",
		90 * time.Minute:             "in 2 hours",
		-time.Minute:                 "1 minute ago",
		48*time.Hour - time.Second:   "in 2 days",
		90 * 24 * time.Hour:          "in 3 months",
		-800 * 24 * time.Hour:        "2 years ago",
	}
	for d, want := range cases {
		if got := RelativeTime(now, now.Add(d)); got != want {
			t.Errorf("%v: got %q, want %q", d, got, want)
		}
	}
}
