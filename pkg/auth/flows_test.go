package auth_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// fakeClock is shared by the server and the client's Sleep, so a test of a
// 5-second polling interval runs in milliseconds.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

func deviceServer(t *testing.T, clk *fakeClock) (*auth.Metadata, *httptest.Server) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Now: clk.Now, DeviceInterval: 5 * time.Second}, st)
	ts := httptest.NewServer(srv.Handler())
	srv.SetIssuer(ts.URL)
	t.Cleanup(func() { ts.Close(); st.Close() })
	c, _ := api.New(api.Options{BaseURL: ts.URL})
	m, err := auth.Discover(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return m, ts
}

// TestDevicePollingObeysSlowDown: a client that polls faster than the server
// allows (a drifting clock) gets slow_down, adds 5 s each time, warns once
// that the clock probably drifts, and keeps polling (RFC 8628 §3.5).
func TestDevicePollingObeysSlowDown(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	m, ts := deviceServer(t, clk)
	var waits []time.Duration
	var sb strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := auth.DeviceFlow(ctx, m, auth.FlowOptions{
		HTTPClient: ts.Client(), Stderr: &sb, Getenv: func(string) string { return "" },
		PollMargin: -4 * time.Second, // 1 s: four seconds too fast
		Now:        clk.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			if len(waits) > 6 {
				cancel()
				return ctx.Err()
			}
			return clk.Sleep(ctx, d)
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want to keep polling through slow_down, got %v", err)
	}
	// the first poll is on time (pending); each later one is early: +5 s each
	want := []time.Duration{time.Second, time.Second, 6 * time.Second, 11 * time.Second, 16 * time.Second, 21 * time.Second, 26 * time.Second}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v (+5 s per slow_down)", waits, want)
		}
	}
	if strings.Count(sb.String(), "warning:") != 1 || !strings.Contains(sb.String(), "clock") {
		t.Fatalf("want one warning naming clock drift, got %q", sb.String())
	}
}

// TestDevicePollingDefaultIsSlowerThanTheServer: with the default margin the
// client never triggers slow_down; it stops when the code expires.
func TestDevicePollingDefaultIsSlowerThanTheServer(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	m, ts := deviceServer(t, clk)
	var waits []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	_, err := auth.DeviceFlow(ctx, m, auth.FlowOptions{
		HTTPClient: ts.Client(), Stderr: &strings.Builder{}, Getenv: func(string) string { return "" },
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			if len(waits) > 5 {
				cancel()
				return ctx.Err()
			}
			return clk.Sleep(ctx, d)
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want to keep polling (pending) until cancelled, got %v", err)
	}
	for _, w := range waits {
		if w != 6*time.Second {
			t.Fatalf("waits %v: want the server's 5 s plus 1 s", waits)
		}
	}
}

// TestOpenBrowserPathWithSpaces: CODESYNC_BROWSER may name a program whose
// path has spaces (Windows' "C:\Program Files\..."); a command with
// arguments still works.
func TestOpenBrowserPathWithSpaces(t *testing.T) {
	script := func(dir, name string) (prog, out string) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		prog, out = filepath.Join(dir, name), filepath.Join(dir, "opened")
		sh := "#!/bin/sh\nprintf '%s|' \"$@\" > \"" + out + ".tmp\" && mv \"" + out + ".tmp\" \"" + out + "\"\n"
		if err := os.WriteFile(prog, []byte(sh), 0o700); err != nil {
			t.Fatal(err)
		}
		return prog, out
	}
	spaced, spacedOut := script(filepath.Join(t.TempDir(), "Program Files"), "my browser")
	plain, plainOut := script(t.TempDir(), "browser")
	for _, tc := range []struct{ env, out, want string }{
		{spaced, spacedOut, "http://127.0.0.1:1/x|"},
		{plain + " --new-window", plainOut, "--new-window|http://127.0.0.1:1/x|"},
	} {
		getenv := func(k string) string {
			if k == "CODESYNC_BROWSER" {
				return tc.env
			}
			return ""
		}
		if err := auth.OpenBrowser(getenv, "http://127.0.0.1:1/x"); err != nil {
			t.Fatalf("%q: %v", tc.env, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, err := os.ReadFile(tc.out)
			if err == nil {
				if string(b) != tc.want {
					t.Fatalf("%q: browser got %q, want %q", tc.env, b, tc.want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q: the browser was not started", tc.env)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
