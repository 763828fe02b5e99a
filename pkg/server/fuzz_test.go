package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
)

// FuzzServerBodies: no JSON body, however malformed or deep, makes a handler
// fail with a 5xx; it is a 2xx or a clear 4xx.
func FuzzServerBodies(f *testing.F) {
	f.Add("POST", "/v1/keys", `{"name":"x","scopes":["keys:read"]}`)
	f.Add("POST", "/v1/keys", strings.Repeat("[", 10000))
	f.Add("POST", "/v1/keys", `{"name":"x","scopes":["keys:read"],"expires_in":-1,"cidrs":["::/0"],"namespaces":["@a/*"]}`)
	f.Add("POST", "/v1/keys/key_x/rotate", `{"grace_seconds":-5}`)
	f.Add("POST", "/v1/jwt/keys", `{"public_key":"-----BEGIN PUBLIC KEY-----"}`)
	f.Add("PUT", "/v1/registry/packages/@acme/x", `{"a":1}`)
	f.Add("GET", "/v1/audit/events?type=%00&since=x", "")
	f.Add("GET", "/v1/keys?cursor=%ff&limit=1e9", "")
	e := start(f, server.Config{ProdRate: 1e9, DevRate: 1e9})
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if method != "GET" && method != "POST" && method != "PUT" && method != "DELETE" {
			return
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n#") {
			return
		}
		// sent as raw bytes: a client may send any request target, also
		// ones Go's client refuses to build ("/%")
		r := e.doRaw(t, method, path, e.token, body)
		if r.status >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, r.status, r.body)
		}
	})
}

// doRaw sends one HTTP/1.1 request exactly as given, on its own connection.
func (e *env) doRaw(t *testing.T, method, target, tok, body string) resp {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", method, target, tok, len(body), body)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: no HTTP answer: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// FuzzJWT: any bearer string shaped like a JWT is refused cleanly.
func FuzzJWT(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJkZXYifQ.")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6Imp3a194In0.e30.AAAA")
	e := start(f, server.Config{ProdRate: 1e9, DevRate: 1e9, AnonRate: 1e9})
	f.Fuzz(func(t *testing.T, tok string) {
		if strings.IndexFunc(tok, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return // not a header value an HTTP client can send
		}
		ee := *e
		ee.t = t
		r := ee.do("GET", "/v1/auth/whoami", tok, nil)
		if r.status != 401 && r.status != 429 {
			t.Fatalf("%q: %d %s", tok, r.status, r.body)
		}
	})
}
