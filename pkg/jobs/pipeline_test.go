package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/mail"
	"github.com/codesync/codesync-cli/pkg/notify"
	"github.com/codesync/codesync-cli/pkg/webhook"
	"github.com/emersion/go-smtp"
)

// smtpSink is an in-process SMTP server (go-smtp) that keeps what it gets.
type smtpSink struct {
	mu   sync.Mutex
	msgs []string // "to|subject"
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

// pipeline is what the server will wire: keys in a store, notices by e-mail
// and as key.expiring webhooks through the queue.
type pipeline struct {
	mu     sync.Mutex
	keys   map[string]*notify.Key
	names  map[string]string
	sender *mail.Sender
	q      *SQLiteQueue
	hook   string // endpoint URL
	secret string
	client *webhook.Client
}

func (p *pipeline) SendExpiryNotice(ctx context.Context, n ExpiryNotice) error {
	p.mu.Lock()
	k := *p.keys[n.KeyID]
	p.mu.Unlock()
	if k.Status != notify.StatusActive {
		return nil // rotated or revoked since: no notice
	}
	m, err := mail.NoticeMessage(k.Owner+"@example.com", mail.Notice{KeyID: k.ID, KeyName: p.names[k.ID], ExpiresAt: k.ExpiresAt, Threshold: n.Threshold})
	if err != nil {
		return Permanent(err)
	}
	if err := p.sender.Send(ctx, m); err != nil {
		return err
	}
	payload, _ := json.Marshal(map[string]any{"type": "key.expiring", "data": map[string]any{"key_id": k.ID, "threshold": n.Threshold}})
	// The message id is fixed by key and threshold: a rerun enqueues nothing new.
	_, err = p.q.EnqueueDelivery(ctx, WebhookDelivery{MessageID: "msg_" + k.ID + "_" + string(n.Threshold), EndpointID: "ep_1", EventType: "key.expiring", Payload: payload})
	return err
}

func (p *pipeline) DeliverWebhook(ctx context.Context, d WebhookDelivery, attempt int) error {
	_, err := p.client.Deliver(ctx, webhook.Message{URL: p.hook, ID: d.MessageID, Body: d.Payload, Secrets: []string{p.secret}})
	return err
}

func (p *pipeline) WebhookFailing(context.Context, WebhookDelivery, error) error { return nil }

// waitIdle waits until no job is waiting or running.
func waitIdle(t *testing.T, q *SQLiteQueue) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		busy := 0
		for _, kind := range []string{KindExpiryNotice, KindWebhookDelivery} {
			jobs, err := q.List(context.Background(), kind)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range jobs {
				if j.State != "completed" && j.State != "cancelled" && j.State != "discarded" {
					busy++
				}
			}
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

// TestNoticePipelineWalk14Days: an injected clock walks 14 days in 6-hour
// ticks; at each tick the due notices are enqueued; the queue sends each by
// e-mail (to an in-process go-smtp server) and as a signed key.expiring
// webhook (verified by the loopback receiver). Each notice arrives once; the
// key revoked on day 6 and the rotated key get nothing more.
func TestNoticePipelineWalk14Days(t *testing.T) {
	ctx := context.Background()
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	sender, err := mail.New(mail.Config{URL: "smtp://" + l.Addr().String(), From: "CodeSync <codesync@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := webhook.NewSecret()
	var hmu sync.Mutex
	hooks := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct {
			Data struct {
				KeyID     string `json:"key_id"`
				Threshold string `json:"threshold"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		hmu.Lock()
		hooks[ev.Data.KeyID+"/"+ev.Data.Threshold]++
		hmu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	start := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	p := &pipeline{
		keys: map[string]*notify.Key{
			"k_a": {ID: "k_a", Owner: "ann", ExpiresAt: start.Add(14 * day), Status: notify.StatusActive},
			"k_b": {ID: "k_b", Owner: "bob", ExpiresAt: start.Add(2 * day), Status: notify.StatusActive},
			"k_c": {ID: "k_c", Owner: "cid", ExpiresAt: start.Add(10 * day), Status: notify.StatusActive}, // revoked on day 6
			"k_d": {ID: "k_d", Owner: "dan", ExpiresAt: start.Add(5 * day), Status: notify.StatusRotated},
			"k_e": {ID: "k_e", Owner: "eve", Status: notify.StatusActive}, // never expires
		},
		names:  map[string]string{"k_a": "deploy", "k_b": "ci", "k_c": "old", "k_d": "rot", "k_e": "forever"},
		sender: sender, hook: recv.URL + "/hooks", secret: secret,
		client: webhook.NewClient(webhook.ClientOptions{Timeout: 5 * time.Second}),
	}
	_, db := newSQLite(t)
	q, err := OpenSQLite(ctx, db, Config{Notices: p, Webhooks: p, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p.q = q
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)

	for now := start; !now.After(start.Add(14 * day)); now = now.Add(6 * time.Hour) {
		if now.Equal(start.Add(6 * day)) {
			p.mu.Lock()
			p.keys["k_c"].Status = notify.StatusRevoked
			p.mu.Unlock()
		}
		p.mu.Lock()
		var keys []notify.Key
		for _, k := range p.keys {
			keys = append(keys, *k)
		}
		p.mu.Unlock()
		if _, err := q.EnqueueNotices(ctx, notify.Due(keys, now)); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, q)
	}
	sink.mu.Lock()
	mails := append([]string(nil), sink.msgs...)
	sink.mu.Unlock()
	sort.Strings(mails)
	want := []string{
		`ann@example.com|CodeSync API key "deploy" expires in 14 days`,
		`ann@example.com|CodeSync API key "deploy" expires in 3 days`,
		`ann@example.com|CodeSync API key "deploy" has expired`,
		`bob@example.com|CodeSync API key "ci" expires in 3 days`,
		`bob@example.com|CodeSync API key "ci" has expired`,
		`cid@example.com|CodeSync API key "old" expires in 14 days`,
	}
	if fmt.Sprint(mails) != fmt.Sprint(want) {
		t.Errorf("mails:\n got  %q\n want %q", mails, want)
	}
	hmu.Lock()
	defer hmu.Unlock()
	wantHooks := map[string]int{"k_a/14d": 1, "k_a/3d": 1, "k_a/0d": 1, "k_b/3d": 1, "k_b/0d": 1, "k_c/14d": 1}
	if fmt.Sprint(hooks) != fmt.Sprint(wantHooks) {
		t.Errorf("webhooks %v, want %v", hooks, wantHooks)
	}
}
