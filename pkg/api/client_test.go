package api

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func staticToken(string) TokenSource {
	return func(context.Context) (string, error) { return "csy_dev_0123456789ABCDEFGHIJKLMNOPQRSTabcdef", nil }
}

// sequence answers each request with the next handler of the list.
func sequence(t *testing.T, steps ...http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(steps) {
			i = len(steps) - 1
		}
		steps[i](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func jsonErr(status int, code string, retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(`{"error":"` + code + `","error_description":"nope"}`))
	}
}

func ok(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

func newTestClient(t *testing.T, url string, p RetryPolicy) *Client {
	c, err := New(Options{BaseURL: url, Token: staticToken(""), Retry: p, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetry429Then503Then200(t *testing.T) {
	srv, n := sequence(t, jsonErr(429, "rate_limited", "1"), jsonErr(503, "unavailable", ""), ok)
	c := newTestClient(t, srv.URL, RetryPolicy{MaxAttempts: 4, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxTotal: 10 * time.Second})
	start := time.Now()
	var out struct{ OK bool }
	if err := c.Do(context.Background(), Request{Method: "GET", Path: "/v1/keys"}, &out); err != nil {
		t.Fatal(err)
	}
	if !out.OK || n.Load() != 3 {
		t.Fatalf("ok=%v attempts=%d, want 3", out.OK, n.Load())
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("Retry-After: 1 not honoured, took %s", el)
	}
}

func TestNoRetryOfPOSTWithoutIdempotencyKey(t *testing.T) {
	srv, n := sequence(t, jsonErr(503, "unavailable", ""), ok)
	c := newTestClient(t, srv.URL, RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxTotal: time.Second})
	err := c.Do(context.Background(), Request{Method: "POST", Path: "/v1/keys", Body: map[string]string{}}, nil)
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("want TransportError (exit 9), got %T %v", err, err)
	}
	if n.Load() != 1 {
		t.Fatalf("POST without Idempotency-Key sent %d times", n.Load())
	}
}

func TestRetryOfPOSTWithIdempotencyKey(t *testing.T) {
	var keys []string
	srv, n := sequence(t,
		func(w http.ResponseWriter, r *http.Request) {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			jsonErr(503, "unavailable", "")(w, r)
		},
		func(w http.ResponseWriter, r *http.Request) {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			ok(w, r)
		})
	c := newTestClient(t, srv.URL, RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxTotal: time.Second})
	if err := c.Do(context.Background(), Request{Method: "POST", Path: "/v1/keys/x/rotate", Body: map[string]int{}, IdempotencyKey: "k1"}, nil); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || keys[0] != "k1" || keys[1] != "k1" {
		t.Fatalf("attempts=%d keys=%v", n.Load(), keys)
	}
}

func TestRetryTotalTimeBound(t *testing.T) {
	srv, n := sequence(t, jsonErr(503, "unavailable", ""))
	c := newTestClient(t, srv.URL, RetryPolicy{MaxAttempts: 100, BaseDelay: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxTotal: time.Second})
	start := time.Now()
	err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil)
	el := time.Since(start)
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("want TransportError, got %v", err)
	}
	if el > 1500*time.Millisecond {
		t.Fatalf("took %s, bound is 1s", el)
	}
	if n.Load() < 3 || n.Load() >= 100 {
		t.Fatalf("attempts=%d", n.Load())
	}
}

func TestRetryAfterBeyondBudgetGivesUpAtOnce(t *testing.T) {
	srv, n := sequence(t, jsonErr(429, "rate_limited", "3600"))
	c := newTestClient(t, srv.URL, RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxTotal: 5 * time.Second})
	start := time.Now()
	err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil)
	var he *HTTPError
	if !errors.As(err, &he) || he.Code != "rate_limited" || he.RetryAfter != time.Hour {
		t.Fatalf("got %v", err)
	}
	if n.Load() != 1 || time.Since(start) > time.Second {
		t.Fatalf("attempts=%d after %s", n.Load(), time.Since(start))
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	srv, n := sequence(t, jsonErr(404, "not_found", ""))
	c := newTestClient(t, srv.URL, DefaultRetry)
	err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 404 || n.Load() != 1 {
		t.Fatalf("%v attempts=%d", err, n.Load())
	}
}

func TestInsecureURLRefusedBeforeConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	// a non-loopback name that would resolve to our listener if it were dialled
	c, _ := New(Options{BaseURL: "http://codesync.example:80", Token: staticToken(""),
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return net.Dial("tcp", ln.Addr().String())
		}}}})
	err = c.Do(context.Background(), Request{Method: "GET", Path: "/v1/keys"}, nil)
	var ie *InsecureURLError
	if !errors.As(err, &ie) {
		t.Fatalf("want InsecureURLError, got %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if accepted.Load() != 0 {
		t.Fatal("a connection was made")
	}
	for _, u := range []string{"http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "https://example.com"} {
		c, _ := New(Options{BaseURL: u})
		if !c.Secure() {
			t.Errorf("%s should be allowed", u)
		}
	}
}

func TestRedirectToOtherHostDropsAuthorization(t *testing.T) {
	var got string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		ok(w, r)
	}))
	defer other.Close()
	// same IP, other host name: localhost vs 127.0.0.1
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv, _ := sequence(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+"/x", http.StatusFound)
	})
	c := newTestClient(t, srv.URL, DefaultRetry)
	if err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil); err != nil {
		t.Fatal(err)
	}
	if got != "" {
		t.Fatalf("Authorization followed the redirect: %q", got)
	}
}

func TestDebugTraceRedacts(t *testing.T) {
	srv, _ := sequence(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"token":"csy_dev_0123456789ABCDEFGHIJKLMNOPQRSTzzzzzz","name":"x"}`))
	})
	var trace bytes.Buffer
	c, _ := New(Options{BaseURL: srv.URL, Token: staticToken(""), Debug: &trace})
	var out map[string]any
	if err := c.Do(context.Background(), Request{Method: "POST", Path: "/v1/keys", Body: map[string]string{"password": "hunter22"}}, &out); err != nil {
		t.Fatal(err)
	}
	s := trace.String()
	for _, secret := range []string{"0123456789ABCDEFGHIJKLMNOPQRSTabcdef", "0123456789ABCDEFGHIJKLMNOPQRSTzzzzzz", "hunter22"} {
		if strings.Contains(s, secret) {
			t.Fatalf("trace leaks %q:\n%s", secret, s)
		}
	}
	if !strings.Contains(s, "> POST") || !strings.Contains(s, "< 200") {
		t.Fatalf("trace incomplete:\n%s", s)
	}
}

func TestHTMLErrorPage(t *testing.T) {
	srv, _ := sequence(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(403)
		w.Write([]byte("<html>denied by proxy</html>"))
	})
	c := newTestClient(t, srv.URL, DefaultRetry)
	err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Error(), "non-JSON") {
		t.Fatalf("%v", err)
	}
}

func TestChallengeScopes(t *testing.T) {
	for h, want := range map[string]string{
		`Bearer realm="codesync", error="insufficient_scope", scope="registry:publish"`:           "registry:publish",
		`Bearer realm="codesync", error="insufficient_scope", scope="keys:read registry:publish"`: "keys:read registry:publish",
		`Bearer realm="codesync", error="invalid_token"`:                                          "",
		`Bearer error="insufficient_scope",scope="audit:read"`:                                    "audit:read",
		`Bearer x_scope="no", scope="yes"`:                                                        "yes",
	} {
		if got := strings.Join(challengeScopes(h), " "); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}
