package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/orgpolicy"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// An organization's audit: owners, admins and auditors export every
// member's keys that reach the organization (key audit-export --org) and read
// its log (audit events --org).

var orgReaders = []string{model.RoleOwner, model.RoleAdmin, model.RoleAuditor}

// orgReader is orgFor with the slug from the query string, for a reader.
func (s *Server) orgReader(r *http.Request, c *Credential, slug, what string) (*store.Org, *apiError) {
	o, role, e := s.orgRole(r, c, slug)
	if e != nil {
		return nil, e
	}
	if e := needRole(o, role, what, orgReaders...); e != nil {
		return nil, e
	}
	return o, nil
}

type exportSource struct {
	forEachKey   func(func(*store.KeyRecord) error) error
	forEachEvent func(func(*store.Event) error) error
	summarize    func() (model.ExportSummary, error)
}

func (s *Server) orgExportSource(r *http.Request, c *Credential, slug string, since time.Time) (*exportSource, *apiError) {
	o, e := s.orgReader(r, c, slug, "export the organization's keys")
	if e != nil {
		return nil, e
	}
	ctx := r.Context()
	scopes, err := s.store.OrgScopes(ctx, o.ID)
	if err != nil {
		return nil, s.internal(err)
	}
	src := &exportSource{}
	src.forEachKey = func(fn func(*store.KeyRecord) error) error {
		return s.forEachOrgKeyPaged(ctx, o.ID, scopes, since, fn)
	}
	src.summarize = func() (model.ExportSummary, error) {
		var m model.ExportSummary
		now := s.now()
		err := src.forEachKey(func(k *store.KeyRecord) error {
			switch k.Status(now, keyrules.ExpiringIn) {
			case model.StatusActive:
				m.Active++
			case model.StatusExpiring:
				m.Expiring++
			case model.StatusExpired:
				m.Expired++
			case model.StatusRevoked:
				m.Revoked++
			}
			return nil
		})
		return m, err
	}
	include, err := s.orgEventFilter(ctx, o)
	if err != nil {
		return nil, s.internal(err)
	}
	src.forEachEvent = func(fn func(*store.Event) error) error {
		return s.forEachOrgEventPaged(ctx, store.OrgEventFilter{OrgID: o.ID, Since: since, Include: include}, fn)
	}
	return src, nil
}

// forEachOrgKeyPaged calls fn for every key of the organization's members
// that reaches its scopes, changed since, a page at a time like
// forEachKeyPaged: no database connection is held while fn writes to a
// client, however slow.
func (s *Server) forEachOrgKeyPaged(ctx context.Context, orgID int64, scopes []string, since time.Time, fn func(*store.KeyRecord) error) error {
	var after int64
	for {
		page, err := s.store.OrgKeysPage(ctx, orgID, since, after, exportPage)
		if err != nil {
			return err
		}
		for _, k := range page {
			if !orgpolicy.Reaches(k.Namespaces, scopes) {
				continue
			}
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

// forEachOrgEventPaged calls fn for the organization's events selected by
// f, a page at a time: f.Include (which reads the database) and fn run after
// each page is read and its connection handed back.
func (s *Server) forEachOrgEventPaged(ctx context.Context, f store.OrgEventFilter, fn func(*store.Event) error) error {
	include := f.Include
	f.Include, f.Limit = nil, exportPage
	for {
		page := make([]*store.Event, 0, exportPage)
		err := s.store.ForEachOrgEvent(ctx, f, func(e *store.Event) error {
			page = append(page, e)
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range page {
			if !e.OrgEvent && include != nil && !include(e) {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// memberKeyEvents are the member events an organization's log always holds
// (for keys that reach it); token:used joins them while the organization's
// audit_token_used setting is on.
var memberKeyEvents = []string{model.EventTokenCreated, model.EventTokenRotated, model.EventTokenRevoked, model.EventScopeEscalated}

// orgEventFilter decides which of its members' own events an organization's
// log shows: key events of keys that reach its scopes (a JWT or a session
// reaches them all).
func (s *Server) orgEventFilter(ctx context.Context, o *store.Org) (func(*store.Event) bool, error) {
	scopes, err := s.store.OrgScopes(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	reach := map[string]bool{}
	return func(e *store.Event) bool {
		if !slices.Contains(memberKeyEvents, e.Type) && !(e.Type == model.EventTokenUsed && o.AuditTokenUsed) {
			return false
		}
		if e.KeyID == nil {
			return len(scopes) > 0
		}
		r, ok := reach[*e.KeyID]
		if !ok {
			ns, err := s.store.KeyNamespaces(ctx, *e.KeyID)
			r = err == nil && orgpolicy.Reaches(ns, scopes)
			reach[*e.KeyID] = r
		}
		return r
	}, nil
}

func (s *Server) listOrgEvents(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	q := r.URL.Query()
	limit, e := parseLimit(r, 100, 1000)
	if e != nil {
		return e
	}
	after, ok := decodeCursor(q.Get("cursor"))
	if !ok {
		return badRequest("malformed cursor")
	}
	since, ok := parseSince(q.Get("since"))
	if !ok {
		return badRequest("since must be a date (2006-01-02) or an RFC 3339 time")
	}
	var types []string
	if t := q.Get("type"); t != "" {
		types = strings.Split(t, ",")
		for _, ty := range types {
			if !slices.Contains(model.EventTypes, ty) {
				return badRequest("unknown event type %q: known types are %s", ty, strings.Join(model.EventTypes, ", "))
			}
		}
	}
	o, e := s.orgReader(r, c, q.Get("org"), "read the organization's events")
	if e != nil {
		return e
	}
	include, err := s.orgEventFilter(r.Context(), o)
	if err != nil {
		return s.internal(err)
	}
	f := store.OrgEventFilter{OrgID: o.ID, Since: since, Types: types, KeyID: q.Get("key_id"), AfterSeq: after, Include: include}
	out := model.EventList{Events: []model.Event{}}
	var lastSeq int64
	errStop := errors.New("page full")
	err = s.forEachOrgEventPaged(r.Context(), f, func(ev *store.Event) error {
		if len(out.Events) == limit {
			next := encodeCursor(lastSeq)
			out.NextCursor = &next
			return errStop
		}
		lastSeq = ev.Seq
		out.Events = append(out.Events, eventJSON(ev))
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return s.internal(err)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
