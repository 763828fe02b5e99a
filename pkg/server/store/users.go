package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// User is an account.
type User struct {
	ID           int64
	Name         string
	PasswordHash string
	Suspended    bool
	CreatedAt    time.Time
}

// CreateUser adds a user; ErrExists if the name is taken.
func (s *Store) CreateUser(ctx context.Context, name, passwordHash string, now time.Time) (*User, error) {
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)`, name, passwordHash, unix(now))
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return ErrExists
			}
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &User{ID: id, Name: name, PasswordHash: passwordHash, CreatedAt: now}, nil
}

const userCols = `id, name, password_hash, suspended, created_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created int64
	if err := row.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Suspended, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	u.CreatedAt = fromUnix(created)
	return &u, nil
}

// UserByName looks a user up.
func (s *Store) UserByName(ctx context.Context, name string) (*User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
}

// UserByID looks a user up.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// SetSuspended suspends or reinstates a user.
func (s *Store) SetSuspended(ctx context.Context, name string, suspended bool) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE users SET suspended = ? WHERE name = ?`, suspended, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// ListUsers returns every user, by name.
func (s *Store) ListUsers(ctx context.Context) ([]*User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, name, passwordHash string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE users SET password_hash = ? WHERE name = ?`, passwordHash, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
