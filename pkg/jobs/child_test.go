package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/webhook"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"
)

// The crash tests run the queue in a child process (this test binary, with
// JOBS_TEST_CHILD set) so that it can be killed with SIGKILL mid-job.
const (
	envChild    = "JOBS_TEST_CHILD"    // "sqlite:PATH" or "postgres:DSN"
	envReceiver = "JOBS_TEST_RECEIVER" // base URL of the test's receiver
	envSecret   = "JOBS_TEST_SECRET"   // the endpoint's signing secret
	envID       = "JOBS_TEST_ID"       // River client id
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(envChild); spec != "" {
		if err := childMain(spec); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childHandlers deliver to the parent's receiver, as the server will.
type childHandlers struct {
	base, secret string
	client       *webhook.Client
}

func (h *childHandlers) SendExpiryNotice(ctx context.Context, n ExpiryNotice) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
		h.base+"/notice?"+url.Values{"key": {n.KeyID}, "threshold": {string(n.Threshold)}}.Encode(), nil)
	resp, err := h.client.HTTP().Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("notice: HTTP %d", resp.StatusCode)
	}
	return nil
}

func (h *childHandlers) DeliverWebhook(ctx context.Context, d WebhookDelivery, attempt int) error {
	_, err := h.client.Deliver(ctx, webhook.Message{
		URL: h.base + "/hook", ID: d.MessageID, Body: d.Payload, Secrets: []string{h.secret},
	})
	return err
}

func (h *childHandlers) WebhookFailing(ctx context.Context, d WebhookDelivery, lastErr error) error {
	return nil
}

// childConfig is the configuration of the queue in the crash tests: a job
// running 3 s without its process is rescued, retries come 100 ms apart.
func childConfig(h *childHandlers, id string) Config {
	return Config{
		Notices: h, Webhooks: h, ID: id,
		JobTimeout: 3 * time.Second, RescueAfter: 3 * time.Second,
		Backoff:      func(int) time.Duration { return 100 * time.Millisecond },
		PollInterval: 100 * time.Millisecond,
	}
}

func childMain(spec string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	h := &childHandlers{
		base: os.Getenv(envReceiver), secret: os.Getenv(envSecret),
		client: webhook.NewClient(webhook.ClientOptions{Timeout: 30 * time.Second}),
	}
	cfg := childConfig(h, os.Getenv(envID))
	type startStopper interface {
		Start(context.Context) error
		Stop(context.Context) error
	}
	var q startStopper
	switch kind, arg, _ := strings.Cut(spec, ":"); kind {
	case "sqlite":
		db, err := openSQLite(arg)
		if err != nil {
			return err
		}
		defer db.Close()
		sq, err := OpenSQLite(ctx, db, cfg)
		if err != nil {
			return err
		}
		q = sq
	case "postgres":
		pool, err := pgxpool.New(ctx, arg)
		if err != nil {
			return err
		}
		defer pool.Close()
		pq, err := OpenPostgres(ctx, pool, cfg)
		if err != nil {
			return err
		}
		q = pq
	default:
		return fmt.Errorf("bad %s %q", envChild, spec)
	}
	if err := q.Start(ctx); err != nil {
		return err
	}
	fmt.Println("started")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return q.Stop(sctx)
}

// openSQLite opens path the way the server's store does.
func openSQLite(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	return db, nil
}

// child is a running child process.
type child struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(t *testing.T, spec, receiver, secret, id string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+spec, envReceiver+"="+receiver, envSecret+"="+secret, envID+"="+id)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// kill sends SIGKILL and waits.
func (c *child) kill(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	c.done = nil
}

// stop asks the child to stop (SIGTERM) and waits, killing it after 15 s.
func (c *child) stop(t *testing.T) {
	if c.done == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("child %d: %v", c.cmd.Process.Pid, err)
		}
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Errorf("child %d did not stop on SIGTERM", c.cmd.Process.Pid)
	}
	c.done = nil
}
