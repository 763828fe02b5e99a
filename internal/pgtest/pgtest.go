// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb on a
// temporary directory, a server on a free 127.0.0.1 port (socket in the same
// directory), one database, and an immediate stop and removal at the end of
// the test.
//
// Binaries are taken from $PG_BIN, else the newest /usr/lib/postgresql/*/bin
// (Debian), else PATH. initdb refuses to run as root: as root the cluster runs
// as the "postgres" user (runuser), on a directory that user owns. Without
// binaries the test is skipped with a message, except when CI=true, where it
// fails: CI installs PostgreSQL.
package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a running throwaway cluster.
type Cluster struct {
	Dir   string // data directory (also the socket directory)
	Port  int
	bin   string
	runAs string // "" or "postgres"
}

// DSN returns a URL for database name on the cluster, user postgres, no
// password (trust authentication on loopback only).
func (c *Cluster) DSN(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// CreateDB creates database name.
func (c *Cluster) CreateDB(t testing.TB, name string) string {
	t.Helper()
	if out, err := c.cmd("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "postgres", name).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: createdb %s: %v\n%s", name, err, out)
	}
	return c.DSN(name)
}

// findBin locates the directory holding initdb and pg_ctl.
func findBin() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("PG_BIN=%s has no initdb", d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("no initdb in $PG_BIN, /usr/lib/postgresql/*/bin or PATH")
	}
	return filepath.Dir(p), nil
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func (c *Cluster) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts a cluster and creates database "test"; it returns the cluster
// and that database's DSN. The cluster is stopped and removed when t ends.
func Start(t testing.TB) (*Cluster, string) {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("pgtest: PostgreSQL binaries not found, skipping (install postgresql or set PG_BIN): %v", err)
	}
	c := &Cluster{bin: bin}
	var pgUser *user.User
	if os.Geteuid() == 0 {
		pgUser, err = user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs a postgres user: %v", err)
		}
		c.runAs = "postgres"
	}
	// Not t.TempDir: its parent is private to the test's user.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	c.Dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if pgUser != nil {
		uid, _ := strconv.Atoi(pgUser.Uid)
		gid, _ := strconv.Atoi(pgUser.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.cmd("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	c.Dir = data
	var lastErr error
	var lastOut []byte
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", port, dir)
		out, err := c.cmd("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			c.Port = port
			t.Cleanup(func() {
				if out, err := c.cmd("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
					t.Logf("pgtest: pg_ctl stop: %v\n%s", err, out)
				}
			})
			return c, c.CreateDB(t, "test")
		}
		lastErr, lastOut = err, out
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		if !bytes.Contains(log, []byte("in use")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	t.Fatalf("pgtest: pg_ctl start: %v\n%s\n%s", lastErr, lastOut, strings.TrimSpace(string(log)))
	return nil, ""
}
