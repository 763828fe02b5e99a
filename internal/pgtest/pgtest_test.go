package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartConnect(t *testing.T) {
	c, dsn := Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "select current_setting('listen_addresses')").Scan(&v); err != nil || v != "127.0.0.1" {
		t.Fatalf("listen_addresses %q, %v", v, err)
	}
	other := c.CreateDB(t, "other")
	conn2, err := pgx.Connect(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	conn2.Close(ctx)
}
