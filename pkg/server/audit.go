package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

func eventJSON(e *store.Event) model.Event {
	return model.Event{ID: "evt_" + strconv.FormatInt(e.Seq, 10), Type: e.Type, Time: e.Time, Actor: e.Actor, KeyID: e.KeyID, IP: e.IP, Detail: e.Detail}
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	q := r.URL.Query()
	if q.Get("org") != "" {
		return s.listOrgEvents(w, r, c)
	}
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
	f := store.EventFilter{UserID: c.User.ID, Since: since, Types: types, KeyID: q.Get("key_id"), AfterSeq: after, Limit: limit + 1}
	out := model.EventList{Events: []model.Event{}}
	var lastSeq int64
	n := 0
	err := s.store.ForEachEvent(r.Context(), f, func(ev *store.Event) error {
		n++
		if n > limit {
			next := encodeCursor(lastSeq)
			out.NextCursor = &next
			return nil
		}
		lastSeq = ev.Seq
		out.Events = append(out.Events, eventJSON(ev))
		return nil
	})
	if err != nil {
		return s.internal(err)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
