package server

import (
	"net/http"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) *apiError {
	now := s.now()
	n, err := s.store.CountEvents(r.Context(), model.EventLoginFailed, now.Add(-time.Hour))
	if err != nil {
		return s.internal(err)
	}
	h := model.Health{Status: "ok", FailedLoginsLastHour: n, FailedLoginThreshold: s.cfg.FailedLoginThreshold, Time: now.Truncate(time.Second)}
	if h.SecretScanningRefused, err = s.scanningRefusedSince(r, now.Add(-time.Hour)); err != nil {
		return s.internal(err)
	}
	if n >= s.cfg.FailedLoginThreshold {
		h.Status = "degraded"
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	out := model.WhoAmI{User: model.WhoAmIUser{Name: c.User.Name},
		Credential: model.WhoAmICredential{Type: c.Type, ID: c.ID, Scopes: c.Scopes, Environment: c.Environment}}
	if !c.ExpiresAt.IsZero() {
		t := c.ExpiresAt.UTC()
		out.Credential.ExpiresAt = &t
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
