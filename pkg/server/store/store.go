// Package store is the reference server's persistence: SQLite through
// modernc.org/sqlite (pure Go), WAL mode, schema migrations versioned in code,
// one transaction per write. Audit events are written in the same transaction
// as the change they record.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Errors the server maps to HTTP answers.
var (
	ErrNotFound       = errors.New("not found")
	ErrKeyLimit       = errors.New("key limit reached")
	ErrAlreadyRevoked = errors.New("already revoked")
	ErrExists         = errors.New("already exists")
	ErrIdempotencyKey = errors.New("idempotency key reused for another request")
)

// Store is an open database.
type Store struct {
	db *sql.DB
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(path string) (*Store, error) {
	// the database holds password and token hashes: create it readable by its
	// owner only (SQLite gives the -wal and -shm files the same mode)
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate") // writers queue at BEGIN instead of failing at upgrade
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := &Store{db: db}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database cleanly (checkpointing the WAL).
func (s *Store) Close() error {
	_, _ = s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return s.db.Close()
}

// DB exposes the handle for integrity checks in tests.
func (s *Store) DB() *sql.DB { return s.db }

// migrations run in order; the index+1 is the schema version.
var migrations = []string{
	`CREATE TABLE users (
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		password_hash TEXT NOT NULL,
		suspended INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE api_keys (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		user_id INTEGER NOT NULL REFERENCES users(id),
		name TEXT NOT NULL,
		prefix TEXT NOT NULL,
		token_hash BLOB NOT NULL UNIQUE,
		environment TEXT NOT NULL,
		scopes TEXT NOT NULL,
		cidrs TEXT NOT NULL,
		namespaces TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		last_used_at INTEGER,
		last_used_ip TEXT,
		revoked_at INTEGER,
		rotated_from TEXT,
		rotated_to TEXT
	);
	CREATE INDEX api_keys_user ON api_keys(user_id, seq);
	CREATE INDEX api_keys_user_updated ON api_keys(user_id, updated_at);
	CREATE TABLE audit_events (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		user_id INTEGER,
		type TEXT NOT NULL,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		key_id TEXT,
		ip TEXT,
		detail TEXT NOT NULL
	);
	CREATE INDEX audit_events_user ON audit_events(user_id, seq);
	CREATE INDEX audit_events_type_time ON audit_events(type, time);
	CREATE TABLE idempotency (
		user_id INTEGER NOT NULL,
		key TEXT NOT NULL,
		request TEXT NOT NULL,
		status INTEGER NOT NULL,
		body BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (user_id, key)
	);
	CREATE TABLE packages (
		name TEXT PRIMARY KEY,
		user_id INTEGER NOT NULL REFERENCES users(id),
		metadata BLOB NOT NULL,
		updated_at INTEGER NOT NULL
	);`,
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var v int
		err := tx.QueryRow(`SELECT version FROM schema_version`).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.Exec(`INSERT INTO schema_version VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if v > len(Migrations()) {
			return fmt.Errorf("database schema version %d is newer than this binary knows (%d)", v, len(Migrations()))
		}
		for i := v; i < len(Migrations()); i++ {
			if _, err := tx.Exec(Migrations()[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		_, err = tx.Exec(`UPDATE schema_version SET version = ?`, len(Migrations()))
		return err
	})
}

// Migrations returns the schema steps (later features append theirs).
func Migrations() []string {
	all := append(migrations[:len(migrations):len(migrations)], laterMigrations...)
	all = append(all, leastPrivMigrations...)
	all = append(all, trustedPubMigrations...)
	all = append(all, federationMigrations...)
	all = append(all, hardenMigrations...)
	return append(all, notifyMigrations...)
}

// write runs fn in one transaction (BEGIN IMMEDIATE through _txlock).
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func unix(t time.Time) int64 { return t.Unix() }

func fromUnix(v int64) time.Time { return time.Unix(v, 0).UTC() }

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromUnix(v.Int64)
	return &t
}

func nullString(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	s := v.String
	return &s
}

func joinList(l []string) string { return strings.Join(l, " ") }

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}
