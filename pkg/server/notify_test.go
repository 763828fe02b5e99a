package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/codesync/codesync-cli/pkg/jobs"
	"github.com/codesync/codesync-cli/pkg/mail"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/webhook"
)

// smtpSink is an in-process SMTP server (go-smtp) that keeps "to|subject".
type smtpSink struct {
	mu   sync.Mutex
	msgs []string
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct {
	s  *smtpSink
	to string
}

func (x *sinkSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { x.to = to; return nil }
func (x *sinkSession) Reset()                                    {}
func (x *sinkSession) Logout() error                             { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	subject := ""
	for _, line := range strings.Split(string(b), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Subject: "); ok {
			subject = v
		}
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, x.to+"|"+subject)
	x.s.mu.Unlock()
	return nil
}

func (s *smtpSink) sorted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.msgs...)
	sort.Strings(out)
	return out
}

func startSMTP(t *testing.T) (*smtpSink, string) {
	t.Helper()
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return sink, "smtp://" + l.Addr().String()
}

// hookRecv is a loopback webhook receiver that keeps every request.
type hookRecv struct {
	mu     sync.Mutex
	reqs   []hookReq
	status int // answer (default 204)
	block  chan struct{}
	got    chan struct{} // signalled at each request
	ts     *httptest.Server
}

type hookReq struct {
	header http.Header
	body   []byte
	ok     bool // answered 2xx
}

func newHookRecv(t *testing.T) *hookRecv {
	h := &hookRecv{status: http.StatusNoContent, got: make(chan struct{}, 100)}
	h.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		block, status := h.block, h.status
		h.mu.Unlock()
		select {
		case h.got <- struct{}{}:
		default:
		}
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				h.mu.Lock()
				h.reqs = append(h.reqs, hookReq{header: r.Header.Clone(), body: body})
				h.mu.Unlock()
				return
			}
		}
		h.mu.Lock()
		h.reqs = append(h.reqs, hookReq{header: r.Header.Clone(), body: body, ok: status < 300})
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.ts.Close)
	return h
}

func (h *hookRecv) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

// accepted counts the messages answered 2xx, by type/key/threshold.
func (h *hookRecv) accepted(t *testing.T) map[string]int {
	out := map[string]int{}
	for _, r := range h.requests() {
		if !r.ok {
			continue
		}
		var p struct {
			Type string `json:"type"`
			Data struct {
				KeyID     string `json:"key_id"`
				Threshold string `json:"threshold"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("payload %q: %v", r.body, err)
		}
		k := p.Type + "/" + p.Data.KeyID
		if p.Data.Threshold != "" {
			k += "/" + p.Data.Threshold
		}
		out[k]++
	}
	return out
}

// verifyIndependently checks every signature with the npm standardwebhooks
// package (not our code), through pkg/webhook/testdata/standardwebhooks.
func verifyIndependently(t *testing.T, secret string, reqs []hookReq) {
	t.Helper()
	dir := filepath.Join("..", "webhook", "testdata", "standardwebhooks")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("independent verifier missing in CI (node + npm ci in %s): %v", dir, err)
		}
		t.Logf("independent verifier unavailable (install node, run npm ci in %s): %v; checked with pkg/webhook only", dir, err)
		for _, r := range reqs {
			if err := webhook.Verify(secret, r.header, r.body, time.Now()); err != nil {
				t.Errorf("signature: %v", err)
			}
		}
		return
	}
	var cases []map[string]any
	for _, r := range reqs {
		cases = append(cases, map[string]any{"op": "verify", "secret": secret, "body": string(r.body), "headers": map[string]string{
			"webhook-id": r.header.Get("webhook-id"), "webhook-timestamp": r.header.Get("webhook-timestamp"), "webhook-signature": r.header.Get("webhook-signature")}})
	}
	// a tampered body must fail, or the verifier proves nothing
	cases = append(cases, map[string]any{"op": "verify", "secret": secret, "body": string(reqs[0].body) + " ", "headers": map[string]string{
		"webhook-id": reqs[0].header.Get("webhook-id"), "webhook-timestamp": reqs[0].header.Get("webhook-timestamp"), "webhook-signature": reqs[0].header.Get("webhook-signature")}})
	in, _ := json.Marshal(cases)
	cmd := exec.Command(node, "verify.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.js: %v", err)
	}
	var res []string
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("node verify.js answered %q: %v", out, err)
	}
	for i, r := range res[:len(res)-1] {
		if r != "ok" {
			t.Errorf("request %d: standardwebhooks says %q", i, r)
		}
	}
	if res[len(res)-1] == "ok" {
		t.Error("standardwebhooks accepted a tampered body")
	}
}

func testSecret() []byte { return bytes.Repeat([]byte{7}, 32) }

// fastJobs: a queue that polls often and retries quickly.
func fastJobs() jobs.Config {
	return jobs.Config{PollInterval: 20 * time.Millisecond, Backoff: func(int) time.Duration { return 50 * time.Millisecond }}
}

// waitJobsIdle waits until no job is waiting or running.
func waitJobsIdle(t *testing.T, st *store.Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var busy int
		if err := st.DB().QueryRow(`SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still busy", busy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func addWebhook(t *testing.T, e *env, tok string, req model.CreateWebhookRequest) model.Webhook {
	t.Helper()
	r := e.do("POST", "/v1/webhooks", tok, req)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /v1/webhooks: %d %s", r.status, r.body)
	}
	var w model.Webhook
	if err := json.Unmarshal(r.body, &w); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.Secret, "whsec_") {
		t.Fatalf("no secret in %s", r.body)
	}
	return w
}

// TestNoticesAndWebhooksWalk14Days: the real server (Serve on loopback, a
// SQLite file) with an injected clock that walks 15 days in 6-hour ticks.
// Expiry notices reach the owner by e-mail (an in-process go-smtp server)
// and as key.expiring webhooks, each once; the key rotated on day 5 gets no
// more; key.created/rotated/revoked events arrive too; every request's
// signature verifies with the independent npm standardwebhooks package.
func TestNoticesAndWebhooksWalk14Days(t *testing.T) {
	ctx := context.Background()
	sink, smtpURL := startSMTP(t)
	sender, err := mail.New(mail.Config{URL: smtpURL, From: "CodeSync <codesync@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	e := serving(t, server.Config{Notifications: &server.Notifications{
		Mail: sender, ServerSecret: testSecret(), ScanInterval: time.Hour, DispatchInterval: 20 * time.Millisecond, Jobs: fastJobs()}})
	if err := e.st.SetUserEmail(ctx, server.DevUser, "dev@example.com"); err != nil {
		t.Fatal(err)
	}
	recv := newHookRecv(t)
	hook := addWebhook(t, e, e.token, model.CreateWebhookRequest{URL: recv.ts.URL + "/hooks"})
	day := 24 * time.Hour
	mk := func(name string, life time.Duration) string {
		k, r := e.create(e.token, model.CreateKeyRequest{Name: name, Scopes: []string{"keys:read"}, ExpiresIn: int64(life / time.Second)})
		if r.status != 201 {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
		return k.ID
	}
	a := mk("deploy", 14*day+time.Hour) // all three notices
	b := mk("ci", 2*day)                // 3d and at expiry
	c := mk("old", 10*day)              // rotated on day 5: the 14d notice only
	d := mk("gone", 12*day)             // revoked at once: none
	if r := e.do("DELETE", "/v1/keys/"+d, e.token, nil); r.status != 200 && r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	var rotatedTo string
	for now := 0 * time.Hour; now <= 15*day; now += 6 * time.Hour {
		if now == 5*day {
			r := e.do("POST", "/v1/keys/"+c+"/rotate", e.token, model.RotateKeyRequest{ExpiresIn: int64(30 * day / time.Second)})
			if r.status != 200 && r.status != 201 {
				t.Fatalf("rotate: %d %s", r.status, r.body)
			}
			var rk model.RotateKeyResponse
			_ = json.Unmarshal(r.body, &rk)
			rotatedTo = rk.New.ID
		}
		if _, err := e.srv.ScheduleNotices(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.srv.DispatchEvents(ctx); err != nil {
			t.Fatal(err)
		}
		waitJobsIdle(t, e.st)
		e.clock.Add(6 * time.Hour)
	}
	want := []string{
		`dev@example.com|CodeSync API key "ci" expires in 3 days`,
		`dev@example.com|CodeSync API key "ci" has expired`,
		`dev@example.com|CodeSync API key "deploy" expires in 14 days`,
		`dev@example.com|CodeSync API key "deploy" expires in 3 days`,
		`dev@example.com|CodeSync API key "deploy" has expired`,
		`dev@example.com|CodeSync API key "old" expires in 14 days`,
	}
	if got := sink.sorted(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mails:\n got  %q\n want %q", got, want)
	}
	wantHooks := map[string]int{
		"key.expiring/" + a + "/14d": 1, "key.expiring/" + a + "/3d": 1, "key.expiring/" + a + "/0d": 1,
		"key.expiring/" + b + "/3d": 1, "key.expiring/" + b + "/0d": 1, "key.expiring/" + c + "/14d": 1,
		"key.created/" + a: 1, "key.created/" + b: 1, "key.created/" + c: 1, "key.created/" + d: 1,
		"key.revoked/" + d: 1, "key.rotated/" + c: 1, "key.created/" + rotatedTo: 1,
	}
	got := recv.accepted(t)
	// a rotation may also record the old key's revocation (grace 0): allow it
	delete(got, "key.revoked/"+c)
	if fmt.Sprint(got) != fmt.Sprint(wantHooks) {
		t.Errorf("webhooks:\n got  %v\n want %v", got, wantHooks)
	}
	verifyIndependently(t, hook.Secret, recv.requests())
	// the delivery log has every message, delivered
	r := e.do("GET", "/v1/webhooks/"+hook.ID+"/deliveries", e.token, nil)
	var dl model.WebhookDeliveryList
	if err := json.Unmarshal(r.body, &dl); err != nil || r.status != 200 {
		t.Fatalf("deliveries: %d %s", r.status, r.body)
	}
	if len(dl.Deliveries) != len(recv.requests()) {
		t.Errorf("%d deliveries in the log, %d requests received", len(dl.Deliveries), len(recv.requests()))
	}
	for _, x := range dl.Deliveries {
		if x.Status != "delivered" || x.Attempts != 1 || x.LastStatusCode == nil || *x.LastStatusCode != 204 {
			t.Errorf("delivery %+v", x)
		}
	}
}

// TestWebhookURLRules: SSRF refusals at registration (private, link-local,
// http to a non-loopback host), accepted with AllowPrivate; the secret is in
// the creation answer only and is stored sealed, not in clear.
func TestWebhookURLRules(t *testing.T) {
	e := serving(t, server.Config{Notifications: &server.Notifications{ServerSecret: testSecret(), Jobs: fastJobs()}})
	for _, u := range []string{"https://10.0.0.1/h", "https://169.254.169.254/latest", "https://[fd00::1]/h", "http://example.com/h", "https://0.0.0.0/h", "ftp://example.com/"} {
		r := e.do("POST", "/v1/webhooks", e.token, model.CreateWebhookRequest{URL: u})
		expect(t, r, http.StatusBadRequest, "invalid_request")
	}
	r := e.do("POST", "/v1/webhooks", e.token, model.CreateWebhookRequest{URL: "https://hooks.example.com/x", Events: []string{"key.nope"}})
	expect(t, r, http.StatusBadRequest, "invalid_request")
	w := addWebhook(t, e, e.token, model.CreateWebhookRequest{URL: "https://hooks.example.com/x", Events: []string{"key.revoked", "key.expiring"}})
	if fmt.Sprint(w.Events) != "[key.expiring key.revoked]" {
		t.Errorf("events %v", w.Events)
	}
	var sealed []byte
	if err := e.st.DB().QueryRow(`SELECT secret_sealed FROM webhook_endpoints WHERE id = ?`, w.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(w.Secret)) || bytes.Contains(sealed, []byte(strings.TrimPrefix(w.Secret, "whsec_"))) {
		t.Error("the signing secret is stored in clear")
	}
	r = e.do("GET", "/v1/webhooks/"+w.ID, e.token, nil)
	if r.status != 200 || strings.Contains(string(r.body), "whsec_") {
		t.Errorf("GET shows the secret: %d %s", r.status, r.body)
	}

	p := serving(t, server.Config{Notifications: &server.Notifications{ServerSecret: testSecret(), AllowPrivate: true, Jobs: fastJobs()}})
	addWebhook(t, p, p.token, model.CreateWebhookRequest{URL: "https://10.0.0.1/h"})
	r = p.do("POST", "/v1/webhooks", p.token, model.CreateWebhookRequest{URL: "https://0.0.0.0/h"})
	expect(t, r, http.StatusBadRequest, "invalid_request")
}

// TestWebhookRetriesFailingRedeliver: a receiver that fails is retried
// with backoff until the retry window closes; the endpoint is then
// failing and the delivery failed; a redelivery after the receiver is
// fixed arrives with the same webhook-id and clears the failing mark. A
// rotated secret signs alongside the old one.
func TestWebhookRetriesFailingRedeliver(t *testing.T) {
	jc := fastJobs()
	jc.RetryWindow = 400 * time.Millisecond
	e := serving(t, server.Config{Notifications: &server.Notifications{ServerSecret: testSecret(), DispatchInterval: 20 * time.Millisecond, Jobs: jc}})
	recv := newHookRecv(t)
	recv.status = http.StatusInternalServerError
	w := addWebhook(t, e, e.token, model.CreateWebhookRequest{URL: recv.ts.URL, Events: []string{"key.created"}})
	e.create(e.token, model.CreateKeyRequest{Name: "x", Scopes: []string{"keys:read"}})
	var got model.Webhook
	deadline := time.Now().Add(20 * time.Second)
	for got.Status != model.WebhookFailing {
		if time.Now().After(deadline) {
			t.Fatalf("endpoint never failing: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
		r := e.do("GET", "/v1/webhooks/"+w.ID, e.token, nil)
		_ = json.Unmarshal(r.body, &got)
	}
	waitJobsIdle(t, e.st)
	n := len(recv.requests())
	if n < 3 {
		t.Errorf("%d attempts before failing, want several", n)
	}
	var dl model.WebhookDeliveryList
	_ = json.Unmarshal(e.do("GET", "/v1/webhooks/"+w.ID+"/deliveries", e.token, nil).body, &dl)
	if len(dl.Deliveries) != 1 || dl.Deliveries[0].Status != "failed" || dl.Deliveries[0].Attempts != n {
		t.Fatalf("log %+v after %d attempts", dl.Deliveries, n)
	}
	// rotate the secret, fix the receiver, redeliver
	r := e.do("POST", "/v1/webhooks/"+w.ID+"/rotate-secret", e.token, nil)
	var rot model.Webhook
	if err := json.Unmarshal(r.body, &rot); err != nil || r.status != 200 || rot.Secret == "" || rot.Secret == w.Secret {
		t.Fatalf("rotate-secret: %d %s", r.status, r.body)
	}
	recv.mu.Lock()
	recv.status = http.StatusOK
	recv.mu.Unlock()
	r = e.do("POST", "/v1/webhooks/deliveries/"+dl.Deliveries[0].ID+"/redeliver", e.token, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("redeliver: %d %s", r.status, r.body)
	}
	waitJobsIdle(t, e.st)
	reqs := recv.requests()
	last := reqs[len(reqs)-1]
	if !last.ok || last.header.Get("webhook-id") != reqs[0].header.Get("webhook-id") {
		t.Errorf("redelivery: ok=%v id %q, first id %q", last.ok, last.header.Get("webhook-id"), reqs[0].header.Get("webhook-id"))
	}
	for _, s := range []string{w.Secret, rot.Secret} {
		if err := webhook.Verify(s, last.header, last.body, time.Now()); err != nil {
			t.Errorf("during the rotation, the secret %s… does not verify: %v", s[:10], err)
		}
	}
	_ = json.Unmarshal(e.do("GET", "/v1/webhooks/"+w.ID, e.token, nil).body, &got)
	if got.Status != model.WebhookActive {
		t.Errorf("after a delivered redelivery the endpoint is %s", got.Status)
	}
}

// TestWebhookOwnership: another user sees nothing; an organization's
// endpoints are for its owners and admins.
func TestWebhookOwnership(t *testing.T) {
	e := serving(t, server.Config{Notifications: &server.Notifications{ServerSecret: testSecret(), Jobs: fastJobs()}})
	w := addWebhook(t, e, e.token, model.CreateWebhookRequest{URL: "https://hooks.example.com/a"})
	tok := e.mint("mallory", model.EnvSandbox, "keys:read", "keys:write", "orgs:read", "orgs:write")
	for _, p := range []struct{ m, path string }{{"GET", "/v1/webhooks/" + w.ID}, {"DELETE", "/v1/webhooks/" + w.ID}, {"GET", "/v1/webhooks/" + w.ID + "/deliveries"}, {"POST", "/v1/webhooks/" + w.ID + "/rotate-secret"}} {
		expect(t, e.do(p.m, p.path, tok, nil), http.StatusNotFound, "not_found")
	}
	var l model.WebhookList
	_ = json.Unmarshal(e.do("GET", "/v1/webhooks", tok, nil).body, &l)
	if len(l.Webhooks) != 0 {
		t.Errorf("mallory sees %v", l.Webhooks)
	}
	// an organization: dev owns it, mallory is a member
	owner := e.mint(server.DevUser, model.EnvSandbox, "keys:read", "keys:write", "orgs:read", "orgs:write")
	if r := e.do("POST", "/v1/orgs", owner, model.CreateOrgRequest{Slug: "acme"}); r.status != 201 {
		t.Fatalf("create org: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/orgs/acme/members", owner, map[string]string{"user": "mallory", "role": "member"}); r.status/100 != 2 {
		t.Fatalf("add member: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/orgs/acme/members/mallory/accept", tok, nil); r.status/100 != 2 { // an invitation until accepted
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	ow := addWebhook(t, e, owner, model.CreateWebhookRequest{URL: "https://hooks.example.com/org", Org: "acme"})
	if ow.Org != "acme" {
		t.Errorf("org %q", ow.Org)
	}
	expect(t, e.do("POST", "/v1/webhooks", tok, model.CreateWebhookRequest{URL: "https://hooks.example.com/m", Org: "acme"}), http.StatusForbidden, "forbidden")
	expect(t, e.do("GET", "/v1/webhooks?org=acme", tok, nil), http.StatusForbidden, "forbidden")
	expect(t, e.do("DELETE", "/v1/webhooks/"+ow.ID, tok, nil), http.StatusNotFound, "not_found")
	expect(t, e.do("GET", "/v1/webhooks?org=nope", tok, nil), http.StatusNotFound, "not_found")
	_ = json.Unmarshal(e.do("GET", "/v1/webhooks?org=acme", owner, nil).body, &l)
	if len(l.Webhooks) != 1 || l.Webhooks[0].ID != ow.ID {
		t.Errorf("org list %+v", l.Webhooks)
	}
	if r := e.do("DELETE", "/v1/webhooks/"+ow.ID, owner, nil); r.status != 204 {
		t.Errorf("delete: %d", r.status)
	}
	expect(t, e.do("GET", "/v1/webhooks/"+ow.ID, owner, nil), http.StatusNotFound, "not_found")
}

// TestHelperServeNotify is not a test: the SIGKILL test runs it in a child
// process as a real server with webhooks on.
func TestHelperServeNotify(t *testing.T) {
	db := os.Getenv("CODESYNC_NOTIFY_DB")
	if db == "" {
		t.Skip("helper process only")
	}
	st, err := store.Open(db)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	secret, _ := hex.DecodeString(os.Getenv("CODESYNC_NOTIFY_SECRET"))
	srv := server.New(server.Config{Notifications: &server.Notifications{ServerSecret: secret, DispatchInterval: 50 * time.Millisecond,
		Jobs: jobs.Config{JobTimeout: 3 * time.Second, RescueAfter: 3 * time.Second, PollInterval: 100 * time.Millisecond,
			Backoff: func(int) time.Duration { return 100 * time.Millisecond }}}}, st)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	tok := os.Getenv("CODESYNC_NOTIFY_TOKEN")
	if tok == "" {
		_, tok, err = srv.BootstrapDev(context.Background())
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
	}
	fmt.Printf("READY http://%s %s\n", ln.Addr(), tok)
	_ = srv.Serve(context.Background(), ln, nil)
	os.Exit(0)
}

// TestWebhookSIGKILLDeliversOnce: the real server process is killed with
// SIGKILL while its delivery is in flight; after a restart on the same
// database the delivery completes, and the receiver accepts the message
// exactly once (the interrupted attempt never got an answer).
func TestWebhookSIGKILLDeliversOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for River's rescue of the interrupted job")
	}
	db := filepath.Join(t.TempDir(), "db.sqlite")
	secret := hex.EncodeToString(testSecret())
	start := func(tok string) (*exec.Cmd, string, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServeNotify$")
		cmd.Env = append(os.Environ(), "CODESYNC_NOTIFY_DB="+db, "CODESYNC_NOTIFY_TOKEN="+tok, "CODESYNC_NOTIFY_SECRET="+secret)
		return startCmd(t, cmd)
	}
	cmd, base, tok := start("")
	e := &env{t: t, ts: &httptest.Server{URL: base}, token: tok}
	recv := newHookRecv(t)
	recv.block = make(chan struct{})
	w := addWebhook(t, e, tok, model.CreateWebhookRequest{URL: recv.ts.URL, Events: []string{"key.created"}})
	if _, r := e.create(tok, model.CreateKeyRequest{Name: "k", Scopes: []string{"keys:read"}}); r.status != 201 {
		t.Fatalf("create: %d", r.status)
	}
	select {
	case <-recv.got:
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery started")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	// the request in flight at the kill was never answered to a live sender:
	// only what comes after it can count as an accepted delivery
	cut := len(recv.requests())
	recv.mu.Lock()
	close(recv.block)
	recv.block = nil
	recv.mu.Unlock()
	_, base, _ = start(tok)
	e.ts = &httptest.Server{URL: base}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var dl model.WebhookDeliveryList
		_ = json.Unmarshal(e.do("GET", "/v1/webhooks/"+w.ID+"/deliveries", tok, nil).body, &dl)
		if len(dl.Deliveries) == 1 && dl.Deliveries[0].Status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			for _, r := range recv.requests() {
				t.Logf("received ok=%v %s", r.ok, r.body)
			}
			t.Fatalf("not delivered after restart: %+v", dl.Deliveries)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // a duplicate would come now
	ids := map[string]int{}
	okCount := 0
	for i, r := range recv.requests() {
		ids[r.header.Get("webhook-id")]++
		if r.ok && i >= cut {
			okCount++
		}
	}
	if len(ids) != 1 || okCount != 1 {
		t.Errorf("receiver: ids %v, %d accepted; want one message accepted once", ids, okCount)
	}
}

func startCmd(t *testing.T, cmd *exec.Cmd) (*exec.Cmd, string, string) {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 0, 256)
	one := make([]byte, 1)
	for {
		n, err := out.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				f := strings.Fields(string(buf))
				if len(f) == 3 && f[0] == "READY" {
					go func() { _, _ = io.Copy(io.Discard, out) }()
					return cmd, f[1], f[2]
				}
				buf = buf[:0]
				continue
			}
			buf = append(buf, one[0])
		}
		if err != nil {
			t.Fatal("child server did not start")
		}
	}
}

// TestWebhookAuditEvents: audit events as the server records them become
// their webhook events: login:failed-threshold once when the account's
// failures in the past hour reach the threshold (not again at the next
// failure), scope:escalated and token:leaked; token:used and events of
// other types send nothing.
func TestWebhookAuditEvents(t *testing.T) {
	ctx := context.Background()
	e := serving(t, server.Config{FailedLoginThreshold: 3, Notifications: &server.Notifications{ServerSecret: testSecret(), DispatchInterval: time.Hour, Jobs: fastJobs()}})
	recv := newHookRecv(t)
	addWebhook(t, e, e.token, model.CreateWebhookRequest{URL: recv.ts.URL, Events: []string{"login:failed-threshold", "scope:escalated", "token:leaked"}})
	dev, err := e.st.UserByName(ctx, server.DevUser)
	if err != nil {
		t.Fatal(err)
	}
	key := "key_leaked"
	add := func(typ string, keyID *string) {
		if err := e.st.AddEvent(ctx, &store.Event{UserID: &dev.ID, Type: typ, Time: e.clock.Now(), Actor: "dev", KeyID: keyID, Detail: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		add(model.EventLoginFailed, nil)
	}
	add(model.EventScopeEscalated, nil)
	add(model.EventTokenLeaked, &key)
	add(model.EventTokenUsed, nil)
	add(model.EventLoginSucceeded, nil)
	if _, err := e.srv.DispatchEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.DispatchEvents(ctx); err != nil { // again: nothing new
		t.Fatal(err)
	}
	waitJobsIdle(t, e.st)
	want := map[string]int{"login:failed-threshold/": 1, "scope:escalated/": 1, "token:leaked/key_leaked": 1}
	if got := recv.accepted(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("webhooks %v, want %v", got, want)
	}
}
