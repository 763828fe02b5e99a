// Package jobs is the server's durable job queue: River
// (github.com/riverqueue/river) on the server's own database, SQLite
// (riversqlite on a modernc.org/sqlite *sql.DB) for the embedded default and
// PostgreSQL (riverpgxv5 on a pgx/v5 pool) for replicas. It knows two kinds
// of job, an expiry notice and a webhook delivery; what they do is supplied
// by the server as handlers.
//
// Guarantees. River fetches each available job with a row lock, so among any
// number of clients (replicas) one runs it. A job whose process dies mid-run
// is rescued after Config.RescueAfter and run again: execution is at least
// once, and handlers make the rare second run harmless (a webhook keeps its
// webhook-id, so receivers drop duplicates; see docs/notifications.md).
// Expiry notices are unique per (key, threshold) in every job state and kept
// for Retention, so the same notice is never enqueued twice.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/codesync/codesync-cli/pkg/notify"
	"github.com/codesync/codesync-cli/pkg/webhook"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Queue names.
const (
	QueueNotices  = "notices"
	QueueWebhooks = "webhooks"
)

// Job kinds, as stored in the river_job table.
const (
	KindExpiryNotice    = "expiry_notice"
	KindWebhookDelivery = "webhook_delivery"
)

// ExpiryNotice is the argument of an expiry-notice job: tell the owner of
// KeyID (by e-mail and to the key.expiring webhooks) that it expires in
// Threshold. The handler loads the key; a key that was rotated or revoked
// meanwhile gets nothing (return nil).
type ExpiryNotice struct {
	KeyID     string           `json:"key_id"`
	Threshold notify.Threshold `json:"threshold"`
}

// Kind implements river.JobArgs.
func (ExpiryNotice) Kind() string { return KindExpiryNotice }

// allStates makes a job unique in every state: once enqueued, the same
// (key, threshold) is never enqueued again while the row is kept.
func allStates() []rivertype.JobState {
	return []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted,
		rivertype.JobStateDiscarded, rivertype.JobStatePending, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}
}

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ExpiryNotice) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueueNotices,
		MaxAttempts: 20, // River's backoff: about 2 days of retries
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: allStates()},
	}
}

// WebhookDelivery is the argument of a webhook-delivery job: POST Payload,
// signed, to endpoint EndpointID. MessageID is the webhook-id, the same on
// every attempt and on a manual redelivery. The endpoint's URL and secret are
// looked up when the job runs (never stored in the job), so a rotated secret
// or a removed endpoint takes effect at once.
type WebhookDelivery struct {
	MessageID  string `json:"message_id"`
	EndpointID string `json:"endpoint_id"`
	EventType  string `json:"event_type"`
	Payload    []byte `json:"payload"`
}

// Kind implements river.JobArgs.
func (WebhookDelivery) Kind() string { return KindWebhookDelivery }

// InsertOpts implements river.JobArgsWithInsertOpts. A message is unique while
// it is waiting or running; a redelivery after it finished is a new job.
func (WebhookDelivery) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueueWebhooks,
		MaxAttempts: 100, // the retry window, not the count, ends a delivery
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

// NoticeSender sends one expiry notice (e-mail to the owner, key.expiring
// webhooks). An error retries the job.
type NoticeSender interface {
	SendExpiryNotice(ctx context.Context, n ExpiryNotice) error
}

// WebhookDeliverer delivers webhook messages and keeps the delivery log.
type WebhookDeliverer interface {
	// DeliverWebhook makes attempt number attempt (1, 2, …) and records it in
	// the delivery log. An error retries after Config.Backoff(attempt);
	// wrap it with Permanent to stop retrying.
	DeliverWebhook(ctx context.Context, d WebhookDelivery, attempt int) error
	// WebhookFailing is called once when the retry window has passed
	// without success (or on a Permanent error): mark the endpoint failing.
	WebhookFailing(ctx context.Context, d WebhookDelivery, lastErr error) error
}

// Permanent marks a handler error that must not be retried (a removed
// endpoint, a refused URL).
func Permanent(err error) error { return river.JobCancel(err) }

// Config configures a Queue. Zero values take the defaults.
type Config struct {
	Notices  NoticeSender     // required unless InsertOnly
	Webhooks WebhookDeliverer // required unless InsertOnly
	// InsertOnly opens a client that enqueues but runs nothing (a CLI tool,
	// a replica that only serves HTTP).
	InsertOnly bool
	// ID names this client in job rows (attempted_by); default host+random.
	ID string
	// Workers per queue (default 4; SQLite: 1).
	Workers int
	// JobTimeout bounds one run of a job (default 1 min).
	JobTimeout time.Duration
	// RescueAfter: a job running longer than this is taken to have lost its
	// process and is run again (default 5 min; at least JobTimeout).
	RescueAfter time.Duration
	// Backoff is the delay before retry attempt of a webhook delivery
	// (default webhook.Backoff).
	Backoff func(attempt int) time.Duration
	// RetryWindow: a delivery failing longer than this stops and its endpoint
	// is marked failing (default webhook.RetryWindow, 24 h).
	RetryWindow time.Duration
	// Retention keeps finished jobs; the uniqueness of expiry notices rests on
	// it, so it must outlast a notice's due period (default 30 days).
	Retention time.Duration
	// PollInterval: how often idle clients look for new jobs (default 1 s;
	// PostgreSQL also wakes on LISTEN/NOTIFY).
	PollInterval time.Duration
	Logger       *slog.Logger
	// Now is the clock for the retry window (default time.Now).
	Now func() time.Time
}

// DefaultRetention keeps finished jobs for 30 days.
const DefaultRetention = 30 * 24 * time.Hour

func (c *Config) defaults(sqlite bool) error {
	if !c.InsertOnly && (c.Notices == nil || c.Webhooks == nil) {
		return errors.New("jobs: Config.Notices and Config.Webhooks are required")
	}
	if c.Workers <= 0 {
		c.Workers = 4
		if sqlite {
			c.Workers = 1
		}
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = time.Minute
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = 5 * time.Minute
	}
	if c.RescueAfter < c.JobTimeout {
		return fmt.Errorf("jobs: RescueAfter (%s) must be at least JobTimeout (%s)", c.RescueAfter, c.JobTimeout)
	}
	if c.Backoff == nil {
		c.Backoff = webhook.Backoff
	}
	if c.RetryWindow <= 0 {
		c.RetryWindow = webhook.RetryWindow
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func (c *Config) riverConfig() *river.Config {
	rc := &river.Config{
		ID:                          c.ID,
		JobTimeout:                  c.JobTimeout,
		RescueStuckJobsAfter:        c.RescueAfter,
		CompletedJobRetentionPeriod: c.Retention,
		CancelledJobRetentionPeriod: c.Retention,
		DiscardedJobRetentionPeriod: c.Retention,
		FetchPollInterval:           c.PollInterval,
		FetchCooldown:               min(100*time.Millisecond, c.PollInterval),
		Logger:                      c.Logger,
	}
	if !c.InsertOnly {
		workers := river.NewWorkers()
		river.AddWorker(workers, &noticeWorker{h: c.Notices})
		river.AddWorker(workers, &deliveryWorker{h: c.Webhooks, backoff: c.Backoff, window: c.RetryWindow, now: c.Now})
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{
			QueueNotices:  {MaxWorkers: c.Workers},
			QueueWebhooks: {MaxWorkers: c.Workers},
		}
	}
	return rc
}

type noticeWorker struct {
	river.WorkerDefaults[ExpiryNotice]
	h NoticeSender
}

func (w *noticeWorker) Work(ctx context.Context, job *river.Job[ExpiryNotice]) error {
	if !job.Args.Threshold.Valid() {
		return Permanent(fmt.Errorf("jobs: notice threshold %q", job.Args.Threshold))
	}
	return w.h.SendExpiryNotice(ctx, job.Args)
}

type deliveryWorker struct {
	river.WorkerDefaults[WebhookDelivery]
	h       WebhookDeliverer
	backoff func(int) time.Duration
	window  time.Duration
	now     func() time.Time
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[WebhookDelivery]) error {
	err := w.h.DeliverWebhook(ctx, job.Args, job.Attempt)
	if err == nil {
		return nil
	}
	var cancel *rivertype.JobCancelError
	permanent := errors.As(err, &cancel)
	// Give up when the next try would fall outside the window (or River's
	// attempt limit is reached, which the window normally comes before).
	if permanent || job.Attempt >= job.MaxAttempts || w.now().Add(w.backoff(job.Attempt)).Sub(job.CreatedAt) > w.window {
		if ferr := w.h.WebhookFailing(ctx, job.Args, err); ferr != nil {
			return ferr // retried; WebhookFailing must be idempotent
		}
		if permanent {
			return err
		}
		return Permanent(err)
	}
	return err
}

// NextRetry implements river.Worker: the webhook backoff, not River's.
func (w *deliveryWorker) NextRetry(job *river.Job[WebhookDelivery]) time.Time {
	return w.now().Add(w.backoff(job.Attempt))
}
