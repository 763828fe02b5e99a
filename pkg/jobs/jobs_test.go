package jobs

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/internal/pgtest"
	"github.com/codesync/codesync-cli/pkg/notify"
	"github.com/codesync/codesync-cli/pkg/webhook"
	"github.com/jackc/pgx/v5/pgxpool"
)

// receiver is the loopback webhook and notice receiver of the tests. It
// verifies every signature, holds the first webhook request open (the test
// then kills the process delivering it), and accepts the others once per
// webhook-id, as a Standard Webhooks receiver should.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server
	hold   bool          // hold the first /hook request
	held   chan struct{} // closed when the first request is being held

	mu       sync.Mutex
	requests map[string]int // webhook-id -> requests received
	accepted map[string]int // webhook-id -> times accepted as new
	notices  map[string]int // key/threshold -> notices received
	total    int
}

func newReceiver(t *testing.T, hold bool) *receiver {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, secret: secret, hold: hold, held: make(chan struct{}),
		requests: map[string]int{}, accepted: map[string]int{}, notices: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.URL.Path == "/notice" {
		r.mu.Lock()
		r.notices[req.URL.Query().Get("key")+"/"+req.URL.Query().Get("threshold")]++
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := webhook.Verify(r.secret, req.Header, body, time.Now()); err != nil {
		r.t.Errorf("receiver: %v", err)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(webhook.HeaderID)
	r.mu.Lock()
	r.total++
	first := r.total == 1
	r.requests[id]++
	r.mu.Unlock()
	if first && r.hold {
		close(r.held)
		select { // until the delivering process dies
		case <-req.Context().Done():
		case <-time.After(60 * time.Second):
			r.t.Errorf("receiver: held request never dropped")
		}
		return
	}
	r.mu.Lock()
	r.accepted[id]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) snapshot() (requests, accepted, notices map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		o := map[string]int{}
		for k, v := range m {
			o[k] = v
		}
		return o
	}
	return cp(r.requests), cp(r.accepted), cp(r.notices)
}

// jobGetter is what the tests need of either queue.
type jobGetter interface {
	Get(ctx context.Context, id int64) (Job, error)
	List(ctx context.Context, kind string) ([]Job, error)
	EnqueueNotice(ctx context.Context, n notify.Notice) (bool, error)
	EnqueueDelivery(ctx context.Context, d WebhookDelivery) (int64, error)
}

func waitState(t *testing.T, q jobGetter, id int64, state string, within time.Duration) Job {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d: state %s after %s, want %s (errors %v)", id, j.State, within, state, j.Errors)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newSQLite(t *testing.T) (string, *sql.DB) {
	path := filepath.Join(t.TempDir(), "codesync.db")
	db, err := openSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return path, db
}

// recorder is an in-process handler that counts calls.
type recorder struct {
	mu       sync.Mutex
	notices  map[ExpiryNotice]int
	attempts map[string]int
	failing  map[string]int
	fail     bool
}

func newRecorder() *recorder {
	return &recorder{notices: map[ExpiryNotice]int{}, attempts: map[string]int{}, failing: map[string]int{}}
}

func (r *recorder) SendExpiryNotice(ctx context.Context, n ExpiryNotice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices[n]++
	return nil
}

func (r *recorder) DeliverWebhook(ctx context.Context, d WebhookDelivery, attempt int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts[d.MessageID]++
	if r.fail {
		return errors.New("receiver down")
	}
	return nil
}

func (r *recorder) WebhookFailing(ctx context.Context, d WebhookDelivery, lastErr error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing[d.MessageID]++
	return nil
}

// TestSQLiteNoticeNeverTwice: a notice for (key, threshold) is enqueued once,
// also after it ran; the scheduler's repeated Due results add nothing.
func TestSQLiteNoticeNeverTwice(t *testing.T) {
	ctx := context.Background()
	_, db := newSQLite(t)
	rec := newRecorder()
	q, err := OpenSQLite(ctx, db, Config{Notices: rec, Webhooks: rec, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	keys := []notify.Key{
		{ID: "k1", ExpiresAt: now.Add(10 * 24 * time.Hour), Status: notify.StatusActive},
		{ID: "k2", ExpiresAt: now.Add(2 * 24 * time.Hour), Status: notify.StatusActive},
		{ID: "k3", ExpiresAt: now.Add(2 * 24 * time.Hour), Status: notify.StatusRevoked},
	}
	for i := 0; i < 3; i++ { // the scheduler ticks three times
		n, err := q.EnqueueNotices(ctx, notify.Due(keys, now))
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{2, 0, 0}[i]; n != want {
			t.Errorf("tick %d: %d new notices, want %d", i, n, want)
		}
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		jobs, err := q.List(ctx, KindExpiryNotice)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, j := range jobs {
			if j.State == "completed" {
				done++
			}
		}
		if len(jobs) != 2 {
			t.Fatalf("%d notice jobs, want 2", len(jobs))
		}
		if done == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notices not completed: %+v", jobs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// After completion: still never again.
	if ok, err := q.EnqueueNotice(ctx, notify.Notice{KeyID: "k1", Threshold: notify.Before14d}); ok || err != nil {
		t.Errorf("completed notice enqueued again: %v %v", ok, err)
	}
	// The next threshold of the same key is a new notice.
	if ok, err := q.EnqueueNotice(ctx, notify.Notice{KeyID: "k1", Threshold: notify.Before3d}); !ok || err != nil {
		t.Errorf("next threshold refused: %v %v", ok, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := map[ExpiryNotice]int{{KeyID: "k1", Threshold: notify.Before14d}: 1, {KeyID: "k2", Threshold: notify.Before3d}: 1}
	for k, v := range want {
		if rec.notices[k] != v {
			t.Errorf("notices sent: %v, want %v", rec.notices, want)
		}
	}
}

// TestDeliveryRetriesThenFailing: a delivery that keeps failing is retried on
// the backoff schedule until the retry window is over, then the endpoint is
// marked failing once and the job stops.
func TestDeliveryRetriesThenFailing(t *testing.T) {
	ctx := context.Background()
	_, db := newSQLite(t)
	rec := newRecorder()
	rec.fail = true
	q, err := OpenSQLite(ctx, db, Config{
		Notices: rec, Webhooks: rec, PollInterval: 20 * time.Millisecond,
		Backoff:     func(int) time.Duration { return 100 * time.Millisecond },
		RetryWindow: 600 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	id, err := q.EnqueueDelivery(ctx, WebhookDelivery{MessageID: "msg_f", EndpointID: "ep_1", EventType: "key.revoked", Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	// River's scheduler promotes retryable jobs every 5 s at most.
	j := waitState(t, q, id, "cancelled", 60*time.Second)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.failing["msg_f"] != 1 || rec.attempts["msg_f"] < 2 || j.Attempt != rec.attempts["msg_f"] {
		t.Errorf("attempts %d (job %d), failing %d", rec.attempts["msg_f"], j.Attempt, rec.failing["msg_f"])
	}
}

// TestDeliveryUniqueWhileWaiting: the same message is not queued twice while
// waiting; a redelivery after it finished is a new job with the same id.
func TestDeliveryUniqueWhileWaiting(t *testing.T) {
	ctx := context.Background()
	_, db := newSQLite(t)
	rec := newRecorder()
	q, err := OpenSQLite(ctx, db, Config{Notices: rec, Webhooks: rec, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d := WebhookDelivery{MessageID: "msg_u", EndpointID: "ep_1", EventType: "key.created", Payload: []byte(`{"a":1}`)}
	id1, _ := q.EnqueueDelivery(ctx, d)
	id2, _ := q.EnqueueDelivery(ctx, d)
	if id1 != id2 {
		t.Errorf("waiting message queued twice: %d, %d", id1, id2)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	waitState(t, q, id1, "completed", 20*time.Second)
	id3, err := q.Redeliver(ctx, d)
	if err != nil || id3 == id1 {
		t.Fatalf("redeliver: %d %v", id3, err)
	}
	waitState(t, q, id3, "completed", 20*time.Second)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.attempts["msg_u"] != 2 {
		t.Errorf("delivered %d times, want 2 (once + redelivery)", rec.attempts["msg_u"])
	}
}

// crashTest runs the queue in child processes (replicas). A notice runs to
// completion first; then a delivery starts, and the child running it is
// killed with SIGKILL while the receiver holds the request, and restarted.
// The delivery must complete exactly once: one completed job, one accepted
// request, the retry with the same webhook-id; the completed notice is not
// run again.
//
// (A job whose handler finished but whose completion River had not yet
// written when the process died does run again; that is why deliveries keep
// their webhook-id and notices their Message-ID. This test kills mid-request,
// where the outcome is deterministic.)
func crashTest(t *testing.T, spec string, q jobGetter, replicas int) {
	ctx := context.Background()
	rcv := newReceiver(t, true)
	if ok, err := q.EnqueueNotice(ctx, notify.Notice{KeyID: "k1", Threshold: notify.Before3d}); !ok || err != nil {
		t.Fatalf("notice: %v %v", ok, err)
	}
	children := map[string]*child{}
	for i := 1; i <= replicas; i++ {
		name := "replica-" + string(rune('0'+i))
		children[name] = startChild(t, spec, rcv.srv.URL, rcv.secret, name)
	}
	noticeJobs, err := q.List(ctx, KindExpiryNotice)
	if err != nil || len(noticeJobs) != 1 {
		t.Fatalf("notice jobs %v %v", noticeJobs, err)
	}
	waitState(t, q, noticeJobs[0].ID, "completed", 30*time.Second)
	msg := webhook.NewMessageID()
	id, err := q.EnqueueDelivery(ctx, WebhookDelivery{MessageID: msg, EndpointID: "ep_1", EventType: "key.expiring", Payload: []byte(`{"type":"key.expiring","data":{"key_id":"k1"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-rcv.held:
	case <-time.After(60 * time.Second):
		t.Fatal("delivery never started")
	}
	j, err := q.Get(ctx, id)
	if err != nil || j.State != "running" || len(j.AttemptedBy) == 0 {
		t.Fatalf("job mid-flight: %+v %v", j, err)
	}
	victim := j.AttemptedBy[len(j.AttemptedBy)-1]
	c := children[victim]
	if c == nil {
		t.Fatalf("job run by unknown client %q", victim)
	}
	start := time.Now()
	c.kill(t)
	if j, _ := q.Get(ctx, id); j.State != "running" {
		t.Fatalf("after kill -9: state %s, want running (orphaned)", j.State)
	}
	children[victim] = startChild(t, spec, rcv.srv.URL, rcv.secret, victim+"-restarted")
	j = waitState(t, q, id, "completed", 90*time.Second)
	t.Logf("%s: completed %s after kill -9, attempt %d, by %v", spec[:6], time.Since(start).Round(time.Millisecond), j.Attempt, j.AttemptedBy)
	// let any duplicate run show up
	time.Sleep(500 * time.Millisecond)
	requests, accepted, notices := rcv.snapshot()
	if len(requests) != 1 || requests[msg] != 2 {
		t.Errorf("requests by webhook-id %v, want %s twice (held + retry)", requests, msg)
	}
	if accepted[msg] != 1 || len(accepted) != 1 {
		t.Errorf("accepted %v, want %s once", accepted, msg)
	}
	if notices["k1/3d"] != 1 || len(notices) != 1 {
		t.Errorf("notices %v, want k1/3d once", notices)
	}
	if j.Attempt != 2 {
		t.Errorf("attempt %d, want 2", j.Attempt)
	}
	all, err := q.List(ctx, KindWebhookDelivery)
	if err != nil || len(all) != 1 {
		t.Errorf("delivery jobs %+v %v, want exactly one", all, err)
	}
	for _, c := range children {
		c.stop(t)
	}
}

// TestSQLiteSurvivesKill9: see crashTest.
func TestSQLiteSurvivesKill9(t *testing.T) {
	ctx := context.Background()
	path, db := newSQLite(t)
	q, err := OpenSQLite(ctx, db, Config{InsertOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	crashTest(t, "sqlite:"+path, q, 1)
}

func newPostgres(t *testing.T) (string, *PostgresQueue) {
	_, dsn := pgtest.Start(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	q, err := OpenPostgres(context.Background(), pool, Config{InsertOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return dsn, q
}

// TestPostgresThreeReplicasSurviveKill9: three replicas share PostgreSQL; the
// one running the delivery is killed with SIGKILL and restarted.
func TestPostgresThreeReplicasSurviveKill9(t *testing.T) {
	dsn, q := newPostgres(t)
	crashTest(t, "postgres:"+dsn, q, 3)
}

// TestPostgresThreeReplicasExactlyOnce: 60 deliveries and 20 notices on three
// replica processes; each is run exactly once.
func TestPostgresThreeReplicasExactlyOnce(t *testing.T) {
	ctx := context.Background()
	dsn, q := newPostgres(t)
	rcv := newReceiver(t, false)
	const n = 60
	var ids []int64
	for i := 0; i < n; i++ {
		id, err := q.EnqueueDelivery(ctx, WebhookDelivery{MessageID: webhook.NewMessageID(), EndpointID: "ep", EventType: "key.created", Payload: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := 0; i < 20; i++ {
		for range 2 { // twice: the second is a duplicate
			if _, err := q.EnqueueNotice(ctx, notify.Notice{KeyID: "key" + string(rune('a'+i)), Threshold: notify.Expired}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 1; i <= 3; i++ {
		startChild(t, "postgres:"+dsn, rcv.srv.URL, rcv.secret, "replica-"+string(rune('0'+i)))
	}
	by := map[string]int{}
	for _, id := range ids {
		j := waitState(t, q, id, "completed", 60*time.Second)
		by[j.AttemptedBy[0]]++
	}
	var notices int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, nm := rcv.snapshot()
		atomic.StoreInt64(&notices, int64(len(nm)))
		if len(nm) == 20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	requests, accepted, nm := rcv.snapshot()
	if len(requests) != n || len(accepted) != n {
		t.Errorf("%d distinct messages received, %d accepted, want %d", len(requests), len(accepted), n)
	}
	for id, c := range requests {
		if c != 1 {
			t.Errorf("message %s received %d times", id, c)
		}
	}
	for k, c := range nm {
		if c != 1 {
			t.Errorf("notice %s received %d times", k, c)
		}
	}
	if len(nm) != 20 {
		t.Errorf("%d notices, want 20", len(nm))
	}
	t.Logf("deliveries per replica: %v", by)
}

// TestRetentionOutlastsNotices: the never-twice rule rests on finished notice
// jobs being kept longer than a notice stays due (14d until the 3d threshold;
// 0d for notify.ExpiredWindow).
func TestRetentionOutlastsNotices(t *testing.T) {
	cfg := Config{InsertOnly: true}
	if err := cfg.defaults(true); err != nil {
		t.Fatal(err)
	}
	rc := cfg.riverConfig()
	longest := max(notify.Before14d.Lead()-notify.Before3d.Lead(), notify.ExpiredWindow)
	for name, d := range map[string]time.Duration{
		"completed": rc.CompletedJobRetentionPeriod, "cancelled": rc.CancelledJobRetentionPeriod, "discarded": rc.DiscardedJobRetentionPeriod,
	} {
		if d <= longest {
			t.Errorf("%s jobs kept %s, not longer than a notice stays due (%s)", name, d, longest)
		}
	}
}
