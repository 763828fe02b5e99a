package api

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// misbehave runs a raw TCP server on loopback whose every connection is
// handled by h after the request head is read.
func misbehave(t *testing.T, h func(c *net.TCPConn)) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				h(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String(), &n
}

func fastRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond, MaxTotal: 2 * time.Second}
}

func client(t *testing.T, url string, timeout time.Duration) *Client {
	c, err := New(Options{BaseURL: url, Token: staticToken(""), Retry: fastRetry(), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if el := time.Since(start); el > d {
		t.Fatalf("took %s, bound %s", el, d)
	}
}

func TestFaultConnectionReset(t *testing.T) {
	url, n := misbehave(t, func(c *net.TCPConn) { c.SetLinger(0); c.Close() })
	c := client(t, url, time.Second)
	var err error
	within(t, 3*time.Second, func() { err = c.Do(context.Background(), Request{Method: "GET", Path: "/v1/keys"}, nil) })
	var te *TransportError
	if !errors.As(err, &te) || n.Load() != 3 {
		t.Fatalf("GET: %v after %d attempts", err, n.Load())
	}
	// a POST without an Idempotency-Key is sent once, never retried
	n.Store(0)
	err = c.Do(context.Background(), Request{Method: "POST", Path: "/v1/keys", Body: map[string]string{}}, nil)
	if !errors.As(err, &te) || n.Load() != 1 {
		t.Fatalf("POST: %v after %d attempts", err, n.Load())
	}
}

func TestFaultSlowHeaders(t *testing.T) {
	url, _ := misbehave(t, func(c *net.TCPConn) { time.Sleep(5 * time.Second); c.Close() })
	c := client(t, url, 200*time.Millisecond)
	var err error
	within(t, 2500*time.Millisecond, func() { err = c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil) })
	var te *TransportError
	if !errors.As(err, &te) || !strings.Contains(te.Error(), "did not answer in time") {
		t.Fatalf("%v", err)
	}
}

func TestFaultBodyCutShort(t *testing.T) {
	url, _ := misbehave(t, func(c *net.TCPConn) {
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"keys\":[{\"id\""))
		c.Close()
	})
	c := client(t, url, time.Second)
	var out map[string]any
	err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, &out)
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("%T %v", err, err)
	}
}

func TestFaultMalformedJSON(t *testing.T) {
	url, _ := misbehave(t, func(c *net.TCPConn) {
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{not json"))
		c.Close()
	})
	c := client(t, url, time.Second)
	var out map[string]any
	err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, &out)
	var te *TransportError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "malformed answer") {
		t.Fatalf("%v", err)
	}
}

func TestFaultProxyHTMLPage(t *testing.T) {
	url, n := misbehave(t, func(c *net.TCPConn) {
		body := "<html><body>502 Bad Gateway</body></html>"
		c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body))
		c.Close()
	})
	c := client(t, url, time.Second)
	err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil)
	var te *TransportError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "non-JSON page") || n.Load() != 3 {
		t.Fatalf("%v after %d", err, n.Load())
	}
}

func TestFault429Storm(t *testing.T) {
	url, n := misbehave(t, func(c *net.TCPConn) {
		body := `{"error":"rate_limited","error_description":"slow down"}`
		c.Write([]byte("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body))
		c.Close()
	})
	c, _ := New(Options{BaseURL: url, Token: staticToken(""), Retry: RetryPolicy{MaxAttempts: 10, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxTotal: 2500 * time.Millisecond}})
	var err error
	within(t, 3*time.Second, func() { err = c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil) })
	var he *HTTPError
	if !errors.As(err, &he) || he.Code != "rate_limited" || n.Load() < 2 || n.Load() > 4 {
		t.Fatalf("%v after %d attempts", err, n.Load())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
