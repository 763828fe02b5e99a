package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/codesync/codesync-cli/pkg/notify"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// Queue is a River client on one database. TTx is the driver's transaction
// type: *sql.Tx for SQLite, pgx.Tx for PostgreSQL; the *Tx methods enqueue
// inside the caller's transaction (a key revoked and its webhook enqueued
// atomically).
type Queue[TTx any] struct {
	client *river.Client[TTx]
}

// SQLiteQueue and PostgresQueue name the two instantiations.
type (
	SQLiteQueue   = Queue[*sql.Tx]
	PostgresQueue = Queue[pgx.Tx]
)

// MigrateSQLite creates or upgrades River's tables (river_job, river_leader,
// …) in db. Idempotent; Open does it too.
func MigrateSQLite(ctx context.Context, db *sql.DB) error {
	return migrate(ctx, riversqlite.New(db))
}

// MigratePostgres creates or upgrades River's tables in the pool's database.
func MigratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
	return migrate(ctx, riverpgxv5.New(pool))
}

func migrate[TTx any](ctx context.Context, d riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(d, nil)
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	return nil
}

// OpenSQLite migrates River's tables and returns a queue on db, a
// modernc.org/sqlite handle (driver name "sqlite"). The file should be in WAL
// mode with a busy_timeout, as the server's store opens it; River serialises
// its own writes, and SQLITE_BUSY under load is retried by River.
func OpenSQLite(ctx context.Context, db *sql.DB, cfg Config) (*SQLiteQueue, error) {
	if err := cfg.defaults(true); err != nil {
		return nil, err
	}
	d := riversqlite.New(db)
	if err := migrate(ctx, d); err != nil {
		return nil, err
	}
	c, err := river.NewClient(d, cfg.riverConfig())
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &Queue[*sql.Tx]{client: c}, nil
}

// OpenPostgres migrates River's tables and returns a queue on pool. Every
// replica opens one on the same database.
func OpenPostgres(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*PostgresQueue, error) {
	if err := cfg.defaults(false); err != nil {
		return nil, err
	}
	d := riverpgxv5.New(pool)
	if err := migrate(ctx, d); err != nil {
		return nil, err
	}
	c, err := river.NewClient(d, cfg.riverConfig())
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &Queue[pgx.Tx]{client: c}, nil
}

// Start runs the workers and River's maintenance (leader election, rescue of
// stuck jobs, retries, clean-up) until Stop. Not for InsertOnly queues.
func (q *Queue[TTx]) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop waits for running jobs to finish (bounded by ctx) and stops.
func (q *Queue[TTx]) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return q.client.StopAndCancel(context.Background())
	}
	return err
}

// EnqueueNotice enqueues the notice n for n.KeyID. It reports false when the
// same (key, threshold) was enqueued before (in any state): the notice is
// never sent twice.
func (q *Queue[TTx]) EnqueueNotice(ctx context.Context, n notify.Notice) (bool, error) {
	res, err := q.client.Insert(ctx, ExpiryNotice{KeyID: n.KeyID, Threshold: n.Threshold}, nil)
	return inserted(res, err)
}

// EnqueueNotices enqueues every due notice (notify.Due) and returns how many
// were new.
func (q *Queue[TTx]) EnqueueNotices(ctx context.Context, due []notify.Notice) (int, error) {
	n := 0
	for _, d := range due {
		ok, err := q.EnqueueNotice(ctx, d)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// EnqueueDelivery enqueues a webhook delivery and returns the job id. A
// message already waiting or running is not enqueued twice (the existing
// job's id is returned).
func (q *Queue[TTx]) EnqueueDelivery(ctx context.Context, d WebhookDelivery) (int64, error) {
	res, err := q.client.Insert(ctx, d, nil)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue delivery: %w", err)
	}
	return res.Job.ID, nil
}

// EnqueueDeliveryTx is EnqueueDelivery inside the caller's transaction.
func (q *Queue[TTx]) EnqueueDeliveryTx(ctx context.Context, tx TTx, d WebhookDelivery) (int64, error) {
	res, err := q.client.InsertTx(ctx, tx, d, nil)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue delivery: %w", err)
	}
	return res.Job.ID, nil
}

// Redeliver enqueues message d again now (webhook redeliver): a new job with
// the same webhook-id, so receivers that got it already can drop it.
func (q *Queue[TTx]) Redeliver(ctx context.Context, d WebhookDelivery) (int64, error) {
	return q.EnqueueDelivery(ctx, d)
}

func inserted(res *rivertype.JobInsertResult, err error) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("jobs: enqueue: %w", err)
	}
	return !res.UniqueSkippedAsDuplicate, nil
}

// Job is the state of one job, for the delivery log and tests.
type Job struct {
	ID          int64
	Kind        string
	State       string // available, scheduled, running, retryable, completed, cancelled, discarded
	Attempt     int
	AttemptedBy []string
	Errors      []string
	FinalizedAt time.Time
}

// Get returns the state of job id.
func (q *Queue[TTx]) Get(ctx context.Context, id int64) (Job, error) {
	row, err := q.client.JobGet(ctx, id)
	if err != nil {
		return Job{}, fmt.Errorf("jobs: %w", err)
	}
	return jobOf(row), nil
}

// List returns the jobs of a kind (newest first, at most 1000).
func (q *Queue[TTx]) List(ctx context.Context, kind string) ([]Job, error) {
	res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(kind).States(allStates()...).First(1000))
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	out := make([]Job, 0, len(res.Jobs))
	for _, r := range res.Jobs {
		out = append(out, jobOf(r))
	}
	return out, nil
}

func jobOf(r *rivertype.JobRow) Job {
	j := Job{ID: r.ID, Kind: r.Kind, State: string(r.State), Attempt: r.Attempt, AttemptedBy: r.AttemptedBy}
	for _, e := range r.Errors {
		j.Errors = append(j.Errors, e.Error)
	}
	if r.FinalizedAt != nil {
		j.FinalizedAt = *r.FinalizedAt
	}
	return j
}

// River returns the underlying client for what this package does not wrap.
func (q *Queue[TTx]) River() *river.Client[TTx] { return q.client }
