package output

import (
	"fmt"
	"time"
)

// RelativeTime says when t is relative to now: "in 9 days", "3 hours ago".
func RelativeTime(now, t time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	// round to the nearest unit: a key made for 30 days is "in 30 days"
	// a second later, not "in 29 days"
	n := func(unit time.Duration) int { return int((d + unit/2) / unit) }
	day := 24 * time.Hour
	var s string
	switch {
	case d < 30*time.Second:
		if future {
			return "in less than a minute"
		}
		return "just now"
	case n(time.Minute) < 60:
		s = plural(n(time.Minute), "minute")
	case n(time.Hour) < 48:
		s = plural(n(time.Hour), "hour")
	case n(day) < 60:
		s = plural(n(day), "day")
	case n(30*day) < 24:
		s = plural(n(30*day), "month")
	default:
		s = plural(n(365*day), "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
