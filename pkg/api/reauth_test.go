package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 13 item 4: a 401 invalid_token is answered by one refresh of the
// session and one retry of the same request (body included); a second 401
// is the answer.
func TestUnauthorizedRefreshesOnceAndRetries(t *testing.T) {
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, r.Header.Get("Authorization")+" "+string(b))
		if r.Header.Get("Authorization") != "Bearer new" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="codesync", error="invalid_token"`)
			jsonErr(401, "invalid_token", "")(w, r)
			return
		}
		ok(w, r)
	}))
	defer srv.Close()
	var reauths atomic.Int32
	newClient := func(fresh string) *Client {
		c, err := New(Options{BaseURL: srv.URL, Timeout: 5 * time.Second,
			Token: func(context.Context) (string, error) { return "old", nil },
			Reauth: func(_ context.Context, rejected string) (string, error) {
				reauths.Add(1)
				if rejected != "old" {
					t.Errorf("rejected token %q", rejected)
				}
				return fresh, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// a POST: the refused request had no effect, so it is sent again
	if err := newClient("new").Do(context.Background(), Request{Method: http.MethodPost, Path: "/v1/keys", Body: map[string]string{"name": "ci"}}, nil); err != nil {
		t.Fatalf("want success after one refresh, got %v", err)
	}
	if reauths.Load() != 1 || len(bodies) != 2 || bodies[1] != `Bearer new {"name":"ci"}` {
		t.Fatalf("reauths %d, requests %q", reauths.Load(), bodies)
	}
	// nothing better to send, or the new token refused too: the 401 stands
	for _, fresh := range []string{"", "newer"} {
		reauths.Store(0)
		err := newClient(fresh).Do(context.Background(), Request{Method: http.MethodGet, Path: "/v1/keys"}, nil)
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != 401 || reauths.Load() != 1 {
			t.Fatalf("fresh %q: want the 401 after one reauth, got %v (%d reauths)", fresh, err, reauths.Load())
		}
	}
}

// A 401 that names another error (not invalid_token) is not a reason to
// refresh; neither is an anonymous request.
func TestUnauthorizedForOtherReasonsDoesNotRefresh(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="ip_not_allowed"`)
		jsonErr(401, "ip_not_allowed", "")(w, r)
	}))
	defer srv.Close()
	c, _ := New(Options{BaseURL: srv.URL, Token: func(context.Context) (string, error) { return "old", nil },
		Reauth: func(context.Context, string) (string, error) { t.Fatal("refreshed"); return "", nil }})
	err := c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("got %v", err)
	}
}
