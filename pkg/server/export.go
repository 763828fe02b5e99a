package server

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/codesync/codesync-cli/pkg/csvsafe"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// parseSince reads the since parameter; empty means from the beginning.
func parseSince(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, true
	}
	t, err := keyrules.ParseTime(v)
	return t, err == nil
}

// exportPage is how many rows an export reads at a time. Each page is read
// whole and its database connection handed back before the page is written
// to the client: a client that never reads blocks its own export only, never
// the connection pool that health, authentication and everyone else need.
const exportPage = 500

// Concurrent exports: per user, and in all.
const (
	maxExportsPerUser = 2
	maxExports        = 32
)

// exportSlots counts running exports.
type exportSlots struct {
	mu     sync.Mutex
	byUser map[int64]int
	total  int
}

func (e *exportSlots) acquire(user int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.byUser == nil {
		e.byUser = map[int64]int{}
	}
	if e.byUser[user] >= maxExportsPerUser || e.total >= maxExports {
		return false
	}
	e.byUser[user]++
	e.total++
	return true
}

func (e *exportSlots) release(user int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.total--
	if e.byUser[user]--; e.byUser[user] <= 0 {
		delete(e.byUser, user)
	}
}

// forEachKeyPaged calls fn for every key of the user changed since, a page
// at a time (see exportPage).
func (s *Server) forEachKeyPaged(ctx context.Context, userID int64, since time.Time, fn func(*store.KeyRecord) error) error {
	var after int64
	for {
		page, err := s.store.KeysPage(ctx, userID, since, after, exportPage)
		if err != nil {
			return err
		}
		for _, k := range page {
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}

// forEachEventPaged does the same for the user's events.
func (s *Server) forEachEventPaged(ctx context.Context, userID int64, since time.Time, fn func(*store.Event) error) error {
	var after int64
	for {
		page := make([]*store.Event, 0, exportPage)
		err := s.store.ForEachEvent(ctx, store.EventFilter{UserID: userID, Since: since, AfterSeq: after, Limit: exportPage}, func(e *store.Event) error {
			page = append(page, e)
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}

// exportKeys streams every key of the caller (revoked and expired included)
// page by page from the database: memory stays flat however many there are.
func (s *Server) exportKeys(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	if !s.exports.acquire(c.User.ID) {
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limited", retryAfter: 5 * time.Second,
			desc: fmt.Sprintf("at most %d exports of one user run at a time: wait for the running ones to finish", maxExportsPerUser)}
	}
	defer s.exports.release(c.User.ID)
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "ndjson" && format != "csv" {
		return badRequest("format must be json, ndjson or csv")
	}
	since, ok := parseSince(q.Get("since"))
	if !ok {
		return badRequest("since must be a date (2006-01-02) or an RFC 3339 time")
	}
	withEvents, ok := parseBool(q.Get("include_events"))
	if !ok {
		return badRequest("include_events must be true or false")
	}
	if withEvents && format != "json" {
		return badRequest("include_events needs format=json (ndjson and csv hold one key a line)")
	}
	if withEvents && !c.HasScope("audit:read") {
		return insufficientScope("audit:read")
	}
	ctx := r.Context()
	now := s.now()
	// the keys exported: the caller's, or with org= every member's key that
	// reaches the organization (orgaudit.go)
	forEachKey := func(fn func(*store.KeyRecord) error) error { return s.forEachKeyPaged(ctx, c.User.ID, since, fn) }
	forEachEvent := func(fn func(*store.Event) error) error { return s.forEachEventPaged(ctx, c.User.ID, since, fn) }
	summarize := func() (model.ExportSummary, error) {
		return s.store.Summary(ctx, c.User.ID, since, now, keyrules.ExpiringIn)
	}
	orgSlug := ""
	if slug := q.Get("org"); slug != "" {
		src, e := s.orgExportSource(r, c, slug, since)
		if e != nil {
			return e
		}
		forEachKey, forEachEvent, summarize, orgSlug = src.forEachKey, src.forEachEvent, src.summarize, slug
	}
	var summary model.ExportSummary
	if format == "json" {
		var err error
		if summary, err = summarize(); err != nil {
			return s.internal(err)
		}
	}
	ct := map[string]string{"json": "application/json", "ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}[format]
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 64<<10)
	rows := 0
	// keep the connection's write deadline moving while data flows
	progress := func() {
		rows++
		if rows%2000 == 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		}
	}
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var err error
	switch format {
	case "ndjson":
		err = forEachKey(func(k *store.KeyRecord) error {
			progress()
			return enc.Encode(s.keyJSON(k))
		})
	case "csv":
		cw := csv.NewWriter(bw)
		_ = cw.Write(model.CSVHeader)
		err = forEachKey(func(k *store.KeyRecord) error {
			progress()
			return cw.Write(csvRow(s.keyJSON(k)))
		})
		cw.Flush()
		if err == nil {
			err = cw.Error()
		}
	case "json":
		head, _ := json.Marshal(struct {
			SchemaVersion int                 `json:"schema_version"`
			GeneratedAt   time.Time           `json:"generated_at"`
			Server        string              `json:"server"`
			User          string              `json:"user"`
			Org           string              `json:"org,omitempty"`
			Summary       model.ExportSummary `json:"summary"`
		}{1, now.Truncate(time.Second), s.cfg.Issuer, c.User.Name, orgSlug, summary})
		bw.Write(head[:len(head)-1]) // leave the object open
		bw.WriteString(`,"keys":[`)
		first := true
		err = forEachKey(func(k *store.KeyRecord) error {
			progress()
			if !first {
				bw.WriteByte(',')
			}
			first = false
			return writeCompact(bw, s.keyJSON(k))
		})
		bw.WriteByte(']')
		if err == nil && withEvents {
			bw.WriteString(`,"events":[`)
			first = true
			err = forEachEvent(func(e *store.Event) error {
				progress()
				if !first {
					bw.WriteByte(',')
				}
				first = false
				return writeCompact(bw, eventJSON(e))
			})
			bw.WriteByte(']')
		}
		bw.WriteString("}\n")
	}
	if err != nil {
		// Headers are gone; cut the stream so the client sees a truncated
		// body rather than a complete-looking file.
		s.cfg.Logger.Error("export failed midway", "error", err)
		panic(http.ErrAbortHandler)
	}
	_ = bw.Flush()
	return nil
}

func writeCompact(bw *bufio.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = bw.Write(b)
	return err
}

func csvRow(k model.Key) []string {
	t := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.UTC().Format(time.RFC3339)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return csvsafe.Row([]string{k.ID, k.Name, k.Prefix, k.Environment, strings.Join(k.Scopes, " "), strings.Join(k.CIDRs, " "),
		strings.Join(k.Namespaces, " "), k.Status, k.CreatedAt.UTC().Format(time.RFC3339), k.ExpiresAt.UTC().Format(time.RFC3339),
		t(k.LastUsedAt), str(k.LastUsedIP), t(k.RevokedAt), str(k.RotatedFrom), str(k.RotatedTo),
		k.Owner, strings.Join(k.PolicyViolations, " ")})
}
