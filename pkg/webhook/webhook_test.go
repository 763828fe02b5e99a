package webhook

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification's reference libraries.
func TestSignKnownVector(t *testing.T) {
	got, err := Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0),
		[]byte(`{"test": 2432232314}`), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("secrets %q %q", a, b)
	}
	key, err := secretKey(a)
	if err != nil || len(key) != 32 {
		t.Fatalf("secret key: %d bytes, %v", len(key), err)
	}
	for _, bad := range []string{"", "whsec_", "whsec_!!!", "sk_abc", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if _, err := Sign("msg_1", time.Now(), nil, bad); !errors.Is(err, ErrBadSecret) {
			t.Errorf("secret %q: err %v, want ErrBadSecret", bad, err)
		}
	}
	if id1, id2 := NewMessageID(), NewMessageID(); id1 == id2 || !strings.HasPrefix(id1, "msg_") {
		t.Errorf("message ids %q %q", id1, id2)
	}
}

func TestVerifyOwn(t *testing.T) {
	secret, _ := NewSecret()
	other, _ := NewSecret()
	now := time.Now()
	body := []byte(`{"type":"key.expiring"}`)
	h := http.Header{}
	if err := SetHeaders(h, "msg_a", now, body, secret); err != nil {
		t.Fatal(err)
	}
	if err := Verify(secret, h, body, now); err != nil {
		t.Errorf("good message: %v", err)
	}
	if err := Verify(other, h, body, now); !errors.Is(err, ErrSignature) {
		t.Errorf("other secret: %v", err)
	}
	if err := Verify(secret, h, append(body, ' '), now); !errors.Is(err, ErrSignature) {
		t.Errorf("changed body: %v", err)
	}
	if err := Verify(secret, h, body, now.Add(6*time.Minute)); !errors.Is(err, ErrTimestamp) {
		t.Errorf("old message: %v", err)
	}
	h2 := h.Clone()
	h2.Set(HeaderID, "msg_b")
	if err := Verify(secret, h2, body, now); !errors.Is(err, ErrSignature) {
		t.Errorf("changed id: %v", err)
	}
}

// nodeVerifier runs testdata/standardwebhooks/verify.js (the npm package
// standardwebhooks) on cases; it skips when node or the package is missing,
// except in CI, where .ci/run installs them.
func nodeVerifier(t *testing.T, cases []map[string]any) []string {
	t.Helper()
	dir := filepath.Join("testdata", "standardwebhooks")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("independent verifier missing in CI (node + npm ci in %s): %v", dir, err)
		}
		t.Skipf("independent verifier unavailable (install node, run npm ci in %s): %v", dir, err)
	}
	in, _ := json.Marshal(cases)
	cmd := exec.Command(node, "verify.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.js: %v\n%s", err, stderr.String())
	}
	var res []string
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("node verify.js answered %q: %v", out, err)
	}
	return res
}

func headerMap(h http.Header) map[string]string {
	return map[string]string{
		HeaderID: h.Get(HeaderID), HeaderTimestamp: h.Get(HeaderTimestamp), HeaderSignature: h.Get(HeaderSignature),
	}
}

// TestDeliveryVerifiedByStandardWebhooksNPM delivers real messages to a
// loopback receiver and has the independent npm implementation verify what
// arrived; tampered and wrongly keyed messages must fail there.
func TestDeliveryVerifiedByStandardWebhooksNPM(t *testing.T) {
	type got struct {
		h    http.Header
		body []byte
	}
	var mu sync.Mutex
	var received []got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, got{r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	secret, _ := NewSecret()
	next, _ := NewSecret()
	client := NewClient(ClientOptions{Timeout: 5 * time.Second})
	bodies := []string{
		`{"type":"key.expiring","data":{"key_id":"k_1","threshold":"14d"}}`,
		`{"type":"key.revoked","data":{"note":"ünïcödé ✓ \u2028"}}`,
	}
	for i, b := range bodies {
		secrets := []string{secret}
		if i == 1 {
			secrets = []string{secret, next} // during a rotation: two signatures
		}
		res, err := client.Deliver(context.Background(), Message{
			URL: srv.URL + "/hook", ID: NewMessageID(), Body: []byte(b), Secrets: secrets,
		})
		if err != nil || res.StatusCode != http.StatusNoContent {
			t.Fatalf("deliver %d: %v %+v", i, err, res)
		}
	}
	if len(received) != 2 {
		t.Fatalf("received %d messages", len(received))
	}
	other, _ := NewSecret()
	r0, r1 := received[0], received[1]
	cases := []map[string]any{
		{"op": "verify", "secret": secret, "headers": headerMap(r0.h), "body": string(r0.body)},
		{"op": "verify", "secret": secret, "headers": headerMap(r1.h), "body": string(r1.body)},
		{"op": "verify", "secret": next, "headers": headerMap(r1.h), "body": string(r1.body)},
		{"op": "verify", "secret": other, "headers": headerMap(r0.h), "body": string(r0.body)},
		{"op": "verify", "secret": secret, "headers": headerMap(r0.h), "body": string(r0.body) + " "},
		{"op": "sign", "secret": secret, "id": "msg_x", "timestamp": 1700000000, "body": bodies[1]},
	}
	res := nodeVerifier(t, cases)
	for i, want := range []string{"ok", "ok", "ok", "error", "error"} {
		if !strings.HasPrefix(res[i], want) {
			t.Errorf("case %d: standardwebhooks says %q, want %s", i, res[i], want)
		}
	}
	// And the other way round: what the npm package signs, we verify.
	ours, _ := Sign("msg_x", time.Unix(1700000000, 0), []byte(bodies[1]), secret)
	if res[5] != ours {
		t.Errorf("npm signature %q, ours %q", res[5], ours)
	}
}

func TestDeliverFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		case "/500":
			http.Error(w, strings.Repeat("x", 5000), http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	secret, _ := NewSecret()
	client := NewClient(ClientOptions{Timeout: 300 * time.Millisecond})
	for _, path := range []string{"/redirect", "/slow", "/500"} {
		start := time.Now()
		res, err := client.Deliver(context.Background(), Message{URL: srv.URL + path + "?token=s3cret", ID: "msg_1", Body: []byte("{}"), Secrets: []string{secret}})
		if err == nil {
			t.Errorf("%s: delivered, want an error", path)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error leaks a secret: %v", path, err)
		}
		if path == "/slow" && time.Since(start) > 1500*time.Millisecond {
			t.Errorf("timeout not applied: %s", time.Since(start))
		}
		if path == "/500" && (res.StatusCode != 500 || len(res.Response) != maxResponse) {
			t.Errorf("500: %d, %d bytes kept", res.StatusCode, len(res.Response))
		}
	}
}

func TestValidateURL(t *testing.T) {
	cases := []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/x", false, true},
		{"http://127.0.0.1:8080/x", false, true},
		{"http://[::1]:8080/x", false, true},
		{"http://localhost/x", false, true},
		{"http://hooks.example.com/x", false, false},
		{"http://10.0.0.1/x", true, false}, // http still only to loopback
		{"ftp://hooks.example.com/x", false, false},
		{"https://user:pw@hooks.example.com/x", false, false},
		{"https://10.1.2.3/x", false, false},
		{"https://10.1.2.3/x", true, true},
		{"https://192.168.1.1/x", false, false},
		{"https://172.16.0.1/x", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://[fe80::1]/x", false, false},
		{"https://[fd00::1]/x", false, false},
		{"https://[::ffff:10.0.0.1]/x", false, false},
		{"https://100.64.0.1/x", false, false},
		{"https://0.0.0.0/x", false, false},
		{"https://0.0.0.0/x", true, false},
		{"https://[::]/x", true, false},
		{"https:///x", false, false},
		{"not a url\x7f", false, false},
	}
	for _, c := range cases {
		err := ValidateURL(c.url, c.allowPrivate)
		if (err == nil) != c.ok {
			t.Errorf("ValidateURL(%q, %v) = %v, want ok=%v", c.url, c.allowPrivate, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrForbiddenURL) {
			t.Errorf("%q: error %v does not wrap ErrForbiddenURL", c.url, err)
		}
	}
}

// fakeDNS answers every A query with ip (AAAA: no answer). It stands for a
// name whose address changes after registration (DNS rebinding).
func fakeDNS(t *testing.T, ip net.IP) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if n < 12 {
				continue
			}
			// question ends after the name's zero byte + type + class
			end := 12
			for end < n && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5
			if end > n {
				continue
			}
			qtype := binary.BigEndian.Uint16(q[end-4:])
			resp := append([]byte{}, q[:end]...)
			resp[2] = 0x81 // response, recursion desired
			resp[3] = 0x80 // recursion available, NOERROR
			binary.BigEndian.PutUint16(resp[6:], 0)
			binary.BigEndian.PutUint16(resp[8:], 0)
			binary.BigEndian.PutUint16(resp[10:], 0)
			if qtype == 1 {
				binary.BigEndian.PutUint16(resp[6:], 1)
				resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
				resp = append(resp, ip.To4()...)
			}
			_, _ = pc.WriteTo(resp, addr)
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// TestClientRefusesPrivateAtDialTime: the address is checked when the
// connection is made, after resolution, so a host name that resolves to a
// private address is refused even though the URL passed ValidateURL.
func TestClientRefusesPrivateAtDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	// A name resolving to loopback reaches the receiver: the resolver is used.
	loop := NewClient(ClientOptions{Timeout: 2 * time.Second, Resolver: fakeDNS(t, net.IPv4(127, 0, 0, 1))})
	resp, err := loop.HTTP().Get("http://hooks.rebind.test:" + port + "/")
	if err != nil {
		t.Fatalf("loopback via name: %v", err)
	}
	resp.Body.Close()

	// The same name now resolving to a private address is refused at dial.
	priv := NewClient(ClientOptions{Timeout: 2 * time.Second, Resolver: fakeDNS(t, net.IPv4(10, 9, 8, 7))})
	if err := ValidateURL("https://hooks.rebind.test/x", false); err != nil {
		t.Fatalf("ValidateURL: %v", err)
	}
	_, err = priv.HTTP().Get("https://hooks.rebind.test:" + port + "/")
	if !errors.Is(err, ErrForbiddenURL) {
		t.Errorf("private address via name: err %v, want ErrForbiddenURL", err)
	}
	for _, u := range []string{"https://169.254.169.254/", "https://[::ffff:192.168.0.1]/", "https://0.0.0.0:" + port + "/", "http://[::]:" + port + "/"} {
		if _, err := NewClient(ClientOptions{Timeout: time.Second}).HTTP().Get(u); !errors.Is(err, ErrForbiddenURL) {
			t.Errorf("%s: err %v, want ErrForbiddenURL", u, err)
		}
	}
	// allow-private lets the dial through (it then fails to connect or TLS).
	ap := NewClient(ClientOptions{Timeout: 300 * time.Millisecond, AllowPrivate: true, Resolver: fakeDNS(t, net.IPv4(10, 9, 8, 7))})
	if _, err := ap.HTTP().Get("https://hooks.rebind.test:" + port + "/"); errors.Is(err, ErrForbiddenURL) {
		t.Errorf("allow-private: still refused: %v", err)
	}
	// No proxy (from the environment or otherwise): a proxy would connect on
	// the client's behalf, unchecked. (The environment is read once per
	// process, so this looks at the transport rather than setting variables.)
	if tr, ok := priv.HTTP().Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Errorf("delivery transport uses a proxy")
	}
	// Redirects are not followed.
	if priv.HTTP().CheckRedirect == nil {
		t.Errorf("redirects followed")
	}
}

func TestBackoffSchedule(t *testing.T) {
	s := Schedule()
	if len(s) != 13 {
		t.Errorf("%d retries, want 13: %v", len(s), s)
	}
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			t.Fatalf("not increasing: %v", s)
		}
	}
	if s[0] != 30*time.Second || s[len(s)-1] > RetryWindow || s[len(s)-1] < 20*time.Hour {
		t.Errorf("schedule %v", s)
	}
	if Backoff(2) != 2*Backoff(1) || Backoff(100) != 4*time.Hour {
		t.Errorf("Backoff(2)=%s Backoff(100)=%s", Backoff(2), Backoff(100))
	}
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := NextAttempt(first, len(s)+1); ok {
		t.Error("retry scheduled after 24 h")
	}
}
