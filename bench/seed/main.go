// Command seed fills a server database with synthetic keys and events for the
// export and throughput benchmarks: go run ./bench/seed -db F -keys N -events M.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/codesync/codesync-cli/pkg/server/store"
)

func main() {
	db := flag.String("db", "", "database file (created by 'server --dev --db F' first)")
	keys := flag.Int("keys", 100000, "keys to add")
	events := flag.Int("events", 1000000, "events to add")
	user := flag.String("user", "dev", "whose account")
	flag.Parse()
	st, err := store.Open(*db)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer st.Close()
	u, err := st.UserByName(context.Background(), *user)
	if err != nil {
		fmt.Fprintln(os.Stderr, "no user", *user, ":", err)
		os.Exit(1)
	}
	start := time.Now()
	if err := st.Seed(context.Background(), u.ID, *keys, *events, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "seeded %d keys and %d events in %s\n", *keys, *events, time.Since(start).Round(time.Millisecond))
}
