package webhook

import "time"

// RetryWindow is how long a failing message is retried before the endpoint is
// marked failing.
const RetryWindow = 24 * time.Hour

// Backoff returns the delay before retry number attempt (1 = the first retry
// after the first failed attempt): 30 s, doubling each time, at most 4 h. The
// attempts run at about 0:00:30, 0:01:30, 0:03:30, … 4:15:30, then every 4 h
// until RetryWindow has passed: 14 attempts in all.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := 30 * time.Second
	for i := 1; i < attempt && d < 4*time.Hour; i++ {
		d *= 2
	}
	return min(d, 4*time.Hour)
}

// NextAttempt returns when to try again after attempt failed attempts of a
// message first attempted at first, and false when the next try would fall
// outside RetryWindow: then stop and mark the endpoint failing.
func NextAttempt(first time.Time, attempt int) (time.Time, bool) {
	return nextAttempt(first, attempt, Backoff, RetryWindow)
}

func nextAttempt(first time.Time, attempt int, backoff func(int) time.Duration, window time.Duration) (time.Time, bool) {
	at := first
	for i := 1; i <= attempt; i++ {
		at = at.Add(backoff(i))
	}
	if at.Sub(first) > window {
		return time.Time{}, false
	}
	return at, true
}

// Schedule lists the offsets from the first attempt of every retry within
// RetryWindow.
func Schedule() []time.Duration {
	var out []time.Duration
	first := time.Unix(0, 0)
	for i := 1; ; i++ {
		at, ok := NextAttempt(first, i)
		if !ok {
			return out
		}
		out = append(out, at.Sub(first))
	}
}
