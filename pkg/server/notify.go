package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/codesync/codesync-cli/pkg/jobs"
	"github.com/codesync/codesync-cli/pkg/mail"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/notify"
	"github.com/codesync/codesync-cli/pkg/orgpolicy"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/webhook"
)

// Notifications configures expiry notices and webhooks (docs/notifications.md).
type Notifications struct {
	// Mail sends expiry notices to key owners (nil: no e-mail; webhooks
	// still get key.expiring).
	Mail *mail.Sender
	// ServerSecret (at least 32 bytes) is what the key sealing the
	// endpoints' signing secrets is derived from (HKDF-SHA256).
	ServerSecret []byte
	// AllowPrivate lets webhook URLs and deliveries reach private,
	// link-local and shared addresses (on-premises receivers, tests).
	AllowPrivate bool
	// ScanInterval: how often the keys are scanned for due notices
	// (default 10 minutes).
	ScanInterval time.Duration
	// DispatchInterval: how often new audit events are turned into
	// webhook deliveries (default 1 s).
	DispatchInterval time.Duration
	// Jobs tunes the queue (timeouts, backoff, polling); its handlers are
	// the server's.
	Jobs jobs.Config
	// Resolver for webhook deliveries (tests); nil: the system's.
	Client *webhook.Client
}

// secretInfo separates the endpoint-secret key from any other key derived
// from the same server secret.
const secretInfo = "codesync webhooks: endpoint signing secrets v1"

// rotationOverlap: after a secret rotation, deliveries carry signatures with
// both secrets for this long.
const rotationOverlap = 24 * time.Hour

// notifier is the server's side of pkg/jobs: it sends notices, delivers
// webhooks and keeps the delivery log.
type notifier struct {
	s      *Server
	cfg    Notifications
	aead   cipher.AEAD
	client *webhook.Client
	q      *jobs.SQLiteQueue
}

func newNotifier(s *Server, cfg Notifications) (*notifier, error) {
	if len(cfg.ServerSecret) < 32 {
		return nil, errors.New("notifications: the server secret must be at least 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, cfg.ServerSecret, nil, secretInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 10 * time.Minute
	}
	if cfg.DispatchInterval <= 0 {
		cfg.DispatchInterval = time.Second
	}
	client := cfg.Client
	if client == nil {
		client = webhook.NewClient(webhook.ClientOptions{AllowPrivate: cfg.AllowPrivate})
	}
	return &notifier{s: s, cfg: cfg, aead: aead, client: client}, nil
}

// seal encrypts an endpoint's secret, bound to the endpoint id.
func (n *notifier) seal(endpointID, secret string) []byte {
	nonce := make([]byte, n.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return n.aead.Seal(nonce, nonce, []byte(secret), []byte(endpointID))
}

func (n *notifier) open(endpointID string, sealed []byte) (string, error) {
	ns := n.aead.NonceSize()
	if len(sealed) < ns {
		return "", errors.New("webhook secret cannot be opened")
	}
	plain, err := n.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(endpointID))
	if err != nil {
		return "", errors.New("webhook secret cannot be opened (another server secret?)")
	}
	return string(plain), nil
}

// start opens the queue on the store's database and runs the workers, the
// notice scheduler and the event dispatcher until the returned stop.
func (n *notifier) start(ctx context.Context) (func(), error) {
	jc := n.cfg.Jobs
	jc.Notices, jc.Webhooks = n, n
	if jc.Logger == nil {
		jc.Logger = n.s.cfg.Logger
	}
	// the queue keeps River's clock (real time): retry windows are
	// measured against the times River records
	// opening (River's migrations) completes even when the server is
	// asked to stop meanwhile: Serve then shuts down cleanly
	q, err := jobs.OpenSQLite(context.WithoutCancel(ctx), n.s.store.DB(), jc)
	if err != nil {
		return nil, err
	}
	n.q = q
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{}, 2)
	go func() { n.loop(lctx, n.cfg.ScanInterval, n.scan); done <- struct{}{} }()
	go func() { n.loop(lctx, n.cfg.DispatchInterval, n.dispatch); done <- struct{}{} }()
	return func() {
		cancel()
		<-done
		<-done
		sctx, c := context.WithTimeout(context.Background(), 20*time.Second)
		defer c()
		_ = q.Stop(sctx)
	}, nil
}

func (n *notifier) loop(ctx context.Context, every time.Duration, fn func(context.Context) (int, error)) {
	if _, err := fn(ctx); err != nil && ctx.Err() == nil {
		n.s.cfg.Logger.Warn("notifications", "error", err)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := fn(ctx); err != nil && ctx.Err() == nil {
				n.s.cfg.Logger.Warn("notifications", "error", err)
			}
		}
	}
}

func keyStatus(k *store.KeyRecord) string {
	switch {
	case k.RevokedAt != nil:
		return notify.StatusRevoked
	case k.RotatedTo != nil:
		return notify.StatusRotated
	}
	return notify.StatusActive
}

// scan enqueues the expiry notices due now (each (key, threshold) once).
func (n *notifier) scan(ctx context.Context) (int, error) {
	now := n.s.now()
	var lead time.Duration
	for _, t := range notify.Thresholds() {
		lead = max(lead, t.Lead())
	}
	recs, err := n.s.store.ExpiringKeys(ctx, now.Add(-notify.ExpiredWindow), now.Add(lead))
	if err != nil {
		return 0, err
	}
	keys := make([]notify.Key, 0, len(recs))
	for _, k := range recs {
		keys = append(keys, notify.Key{ID: k.ID, Owner: fmt.Sprint(k.UserID), ExpiresAt: k.ExpiresAt, Status: keyStatus(k)})
	}
	return n.q.EnqueueNotices(ctx, notify.Due(keys, now))
}

// ScheduleNotices scans the keys and enqueues the expiry notices due at the
// server's clock now; it returns how many were new. The server does it every
// Notifications.ScanInterval.
func (s *Server) ScheduleNotices(ctx context.Context) (int, error) {
	if s.nt == nil || s.nt.q == nil {
		return 0, errors.New("notifications are not running")
	}
	return s.nt.scan(ctx)
}

// DispatchEvents turns audit events recorded since the last call into
// webhook deliveries (the server does it every DispatchInterval).
func (s *Server) DispatchEvents(ctx context.Context) (int, error) {
	if s.nt == nil || s.nt.q == nil {
		return 0, errors.New("notifications are not running")
	}
	return s.nt.dispatch(ctx)
}

// messageID is the webhook-id of a message from source to an endpoint:
// fixed, so a rerun of whatever enqueues it finds it already there.
func messageID(source, endpointID string) string {
	h := sha256.Sum256([]byte(source + "\x00" + endpointID))
	return "msg_" + hex.EncodeToString(h[:12])
}

func newDeliveryID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "dlv_" + hex.EncodeToString(b)
}

// enqueueTx records and enqueues event for every subscribed endpoint of the
// user and of the organizations in orgs, in tx.
func (n *notifier) enqueueTx(ctx context.Context, tx *sql.Tx, source, event string, seq, userID int64, orgs []int64, at time.Time, data any) (int, error) {
	eps, err := store.EndpointsForTx(tx, event, seq, userID, orgs)
	if err != nil {
		return 0, err
	}
	if len(eps) == 0 {
		return 0, nil
	}
	payload, err := webhook.NewPayload(event, at, data)
	if err != nil {
		return 0, err
	}
	count := 0
	for _, ep := range eps {
		d := &store.Delivery{ID: newDeliveryID(), EndpointID: ep.ID, MessageID: messageID(source, ep.ID), EventType: event, Payload: payload, CreatedAt: n.s.now()}
		fresh, err := store.AddDeliveryTx(tx, d)
		if err != nil {
			return count, err
		}
		if !fresh {
			continue
		}
		if _, err := n.q.EnqueueDeliveryTx(ctx, tx, jobs.WebhookDelivery{MessageID: d.MessageID, EndpointID: ep.ID, EventType: event, Payload: payload}); err != nil {
			return count, err
		}
		count++
	}
	return count, nil
}

// keyOrgsTx: the organizations whose webhooks get the events of key keyID.
func keyOrgsTx(tx *sql.Tx, userID int64, keyID *string) ([]int64, error) {
	if keyID == nil {
		return nil, nil
	}
	k, err := store.KeyByIDTx(tx, *keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return store.OrgsReachedTx(tx, userID, func(scopes []string) bool { return orgpolicy.Reaches(k.Namespaces, scopes) })
}

// eventData is the data of an event-based webhook message.
type eventData struct {
	EventID string  `json:"event_id"`
	User    string  `json:"user,omitempty"`
	Actor   string  `json:"actor"`
	KeyID   *string `json:"key_id,omitempty"`
	Detail  string  `json:"detail"`
	Count   int     `json:"failed_logins_last_hour,omitempty"`
}

// webhookEventOf maps an audit event type to the webhook event it may
// become ("" for none).
func webhookEventOf(auditType string) string {
	switch auditType {
	case model.EventTokenCreated:
		return webhook.EventKeyCreated
	case model.EventTokenRotated:
		return webhook.EventKeyRotated
	case model.EventTokenRevoked:
		return webhook.EventKeyRevoked
	case model.EventScopeEscalated:
		return webhook.EventScopeEscalated
	case model.EventTokenLeaked:
		return webhook.EventTokenLeaked
	case model.EventLoginFailed:
		return webhook.EventLoginFailedThreshold
	}
	return ""
}

func dispatchedAuditTypes() []string {
	return []string{model.EventTokenCreated, model.EventTokenRotated, model.EventTokenRevoked,
		model.EventScopeEscalated, model.EventTokenLeaked, model.EventLoginFailed}
}

// dispatch reads the audit events after the dispatcher's cursor and, in the
// same transaction that moves the cursor, records and enqueues their
// deliveries: each event is dispatched exactly once.
func (n *notifier) dispatch(ctx context.Context) (int, error) {
	types := dispatchedAuditTypes()
	if pending, err := n.s.store.EventsPending(ctx, types); err != nil || !pending {
		return 0, err
	}
	total := 0
	for {
		more := false
		err := n.s.store.Tx(ctx, func(tx *sql.Tx) error {
			after, err := store.WebhookCursorTx(tx)
			if err != nil {
				return err
			}
			evs, orgIDs, err := store.EventsAfterTx(tx, after, types, 200)
			if err != nil {
				return err
			}
			more = len(evs) == 200
			for i, ev := range evs {
				c, err := n.dispatchOne(ctx, tx, ev, orgIDs[i])
				if err != nil {
					return err
				}
				total += c
				after = ev.Seq
			}
			return store.SetWebhookCursorTx(tx, after)
		})
		if err != nil || !more {
			return total, err
		}
	}
}

func (n *notifier) dispatchOne(ctx context.Context, tx *sql.Tx, ev *store.Event, orgID int64) (int, error) {
	if ev.UserID == nil {
		return 0, nil
	}
	event := webhookEventOf(ev.Type)
	user, err := store.UserNameTx(tx, *ev.UserID)
	if err != nil {
		return 0, err
	}
	data := eventData{EventID: fmt.Sprintf("evt_%d", ev.Seq), Actor: ev.Actor, KeyID: ev.KeyID, Detail: ev.Detail, User: user}
	switch event {
	case webhook.EventKeyCreated, webhook.EventKeyRotated, webhook.EventKeyRevoked:
		if ev.KeyID == nil {
			return 0, nil // OAuth sessions and JWT keys are not API keys
		}
	case webhook.EventLoginFailedThreshold:
		// once, when the account's failures in the past hour reach the
		// threshold
		cnt, err := store.CountUserEventsTx(tx, *ev.UserID, model.EventLoginFailed, ev.Time.Add(-time.Hour), ev.Seq)
		if err != nil {
			return 0, err
		}
		if cnt != n.s.cfg.FailedLoginThreshold {
			return 0, nil
		}
		data.Count = cnt
	}
	orgs, err := keyOrgsTx(tx, *ev.UserID, ev.KeyID)
	if err != nil {
		return 0, err
	}
	if orgID != 0 {
		orgs = append(orgs, orgID)
	}
	return n.enqueueTx(ctx, tx, data.EventID, event, ev.Seq, *ev.UserID, orgs, ev.Time, data)
}

// SendExpiryNotice implements jobs.NoticeSender: key.expiring webhooks
// first (recorded once, by message id, so a rerun adds nothing), then the
// e-mail (a rerun after a crash sends it again with the same Message-ID).
func (n *notifier) SendExpiryNotice(ctx context.Context, job jobs.ExpiryNotice) error {
	k, err := n.s.store.KeyByIDAny(ctx, job.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if keyStatus(k) != notify.StatusActive {
		return nil // rotated or revoked since: no notice
	}
	owner := n.s.ownerName(k.UserID)
	data := map[string]any{"key_id": k.ID, "key_name": k.Name, "user": owner, "threshold": job.Threshold, "expires_at": k.ExpiresAt.UTC()}
	err = n.s.store.Tx(ctx, func(tx *sql.Tx) error {
		orgs, err := keyOrgsTx(tx, k.UserID, &k.ID)
		if err != nil {
			return err
		}
		_, err = n.enqueueTx(ctx, tx, "notice."+k.ID+"."+string(job.Threshold), webhook.EventKeyExpiring, 0, k.UserID, orgs, n.s.now(), data)
		return err
	})
	if err != nil {
		return err
	}
	if n.cfg.Mail == nil {
		return nil
	}
	to, err := n.s.store.UserEmail(ctx, k.UserID)
	if err != nil {
		return err
	}
	if to == "" {
		return nil
	}
	m, err := mail.NoticeMessage(to, mail.Notice{KeyID: k.ID, KeyName: k.Name, ExpiresAt: k.ExpiresAt, Threshold: job.Threshold, Server: n.s.cfg.Issuer})
	if err != nil {
		return jobs.Permanent(err)
	}
	return n.cfg.Mail.Send(ctx, m)
}

// DeliverWebhook implements jobs.WebhookDeliverer: sign with the endpoint's
// secret(s), POST, record the attempt.
func (n *notifier) DeliverWebhook(ctx context.Context, d jobs.WebhookDelivery, attempt int) error {
	ep, err := n.s.store.Endpoint(ctx, d.EndpointID)
	if errors.Is(err, store.ErrNotFound) {
		return jobs.Permanent(errors.New("endpoint removed"))
	} else if err != nil {
		return err
	}
	dl, err := n.s.store.DeliveryByMessage(ctx, ep.ID, d.MessageID)
	if err != nil {
		return jobs.Permanent(err)
	}
	secret, err := n.open(ep.ID, ep.Secret)
	if err != nil {
		return jobs.Permanent(err)
	}
	secrets := []string{secret}
	if ep.PrevSecret != nil && ep.PrevSecretUntil != nil && n.s.now().Before(*ep.PrevSecretUntil) {
		if prev, err := n.open(ep.ID, ep.PrevSecret); err == nil {
			secrets = append(secrets, prev)
		}
	}
	res, derr := n.client.Deliver(ctx, webhook.Message{URL: ep.URL, ID: d.MessageID, Timestamp: time.Now(), Body: d.Payload, Secrets: secrets})
	a := store.Attempt{At: n.s.now(), StatusCode: res.StatusCode, DurationMS: res.Duration.Milliseconds(), Response: res.Response}
	status := "delivered"
	if derr != nil {
		a.Error, status = derr.Error(), "pending"
	}
	// a recording failure must not turn a delivered message into a retry
	if err := n.s.store.RecordAttempt(context.WithoutCancel(ctx), dl.ID, status, a); err != nil {
		n.s.cfg.Logger.Warn("webhook delivery log", "error", err)
	}
	if derr != nil {
		if errors.Is(derr, webhook.ErrForbiddenURL) {
			return jobs.Permanent(derr)
		}
		return derr
	}
	if ep.FailingSince != nil {
		_ = n.s.store.SetEndpointFailing(ctx, ep.ID, time.Time{})
	}
	return nil
}

// WebhookFailing implements jobs.WebhookDeliverer: the retry window passed.
func (n *notifier) WebhookFailing(ctx context.Context, d jobs.WebhookDelivery, lastErr error) error {
	if dl, err := n.s.store.DeliveryByMessage(ctx, d.EndpointID, d.MessageID); err == nil {
		if err := n.s.store.SetDeliveryStatus(ctx, dl.ID, "failed"); err != nil {
			return err
		}
	}
	err := n.s.store.SetEndpointFailing(ctx, d.EndpointID, n.s.now())
	if err == nil {
		n.s.cfg.Logger.Warn("webhook endpoint failing", "endpoint", d.EndpointID, "message", d.MessageID)
	}
	return err
}
