package server_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/token"
)

// TestLookupTimingDoesNotLeakPrefixes: tokens are looked up by their SHA-256,
// so a near miss of a real token (all but one character right) costs the same
// as a token sharing nothing with it. A byte-by-byte comparison of stored
// tokens would make near misses measurably slower.
func TestLookupTimingDoesNotLeakPrefixes(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	e := start(t, server.Config{AnonRate: 1e9})
	real := e.token
	body := real[len("csy_dev_") : len(real)-6]
	last := body[len(body)-1]
	swap := byte('A')
	if last == 'A' {
		swap = 'B'
	}
	nearBody := body[:len(body)-1] + string(swap)
	near := "csy_dev_" + nearBody + token.Checksum(nearBody)
	far := token.New("dev")
	h := e.srv.Handler()
	measure := func(tok string) time.Duration {
		req := httptest.NewRequest("GET", "/v1/auth/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.RemoteAddr = "127.0.0.1:1234"
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("%d", rec.Code)
		}
		return d
	}
	var a, b []time.Duration
	for i := 0; i < 400; i++ {
		a = append(a, measure(near))
		b = append(b, measure(far))
	}
	med := func(l []time.Duration) time.Duration {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return l[len(l)/2]
	}
	ma, mb := med(a), med(b)
	ratio := float64(ma) / float64(mb)
	t.Logf("median near miss %s, unrelated token %s (ratio %.2f)", ma, mb, ratio)
	if ratio > 1.5 || ratio < 0.67 {
		t.Fatalf("near misses and unrelated tokens take different times: %s vs %s", ma, mb)
	}
}
