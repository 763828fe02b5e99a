package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/jobs"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/webhook"
)

func (s *Server) webhookRoutes() {
	s.handle("GET /v1/webhooks", s.auth("keys:read", s.listWebhooks))
	s.handle("POST /v1/webhooks", s.auth("keys:write", s.createWebhook))
	s.handle("GET /v1/webhooks/{id}", s.auth("keys:read", s.getWebhook))
	s.handle("DELETE /v1/webhooks/{id}", s.auth("keys:write", s.deleteWebhook))
	s.handle("GET /v1/webhooks/{id}/deliveries", s.auth("keys:read", s.listDeliveries))
	s.handle("POST /v1/webhooks/{id}/rotate-secret", s.auth("keys:write", s.rotateWebhookSecret))
	s.handle("POST /v1/webhooks/deliveries/{id}/redeliver", s.auth("keys:write", s.redeliver))
}

func (s *Server) webhooksOn() *apiError {
	if s.nt == nil || s.nt.q == nil {
		return errf(http.StatusServiceUnavailable, "unavailable", "webhooks are not enabled on this server")
	}
	return nil
}

// webhookOrg resolves ?org= / "org": the organization whose endpoints the
// caller manages (owners and admins), or nil for the caller's own.
func (s *Server) webhookOrg(r *http.Request, c *Credential, slug string) (*store.Org, *apiError) {
	if slug == "" {
		return nil, nil
	}
	o, err := s.store.OrgBySlug(r.Context(), slug)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("organization")
	} else if err != nil {
		return nil, s.internal(err)
	}
	role, err := s.store.MemberRole(r.Context(), o.ID, c.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("organization")
	} else if err != nil {
		return nil, s.internal(err)
	}
	if e := needRole(o, role, "manage its webhooks", model.RoleOwner, model.RoleAdmin); e != nil {
		return nil, e
	}
	return o, nil
}

// endpointFor loads an endpoint the caller may manage: their own, or their
// organization's as an owner or admin. Others are not found.
func (s *Server) endpointFor(r *http.Request, c *Credential, id string) (*store.Endpoint, *apiError) {
	ep, err := s.store.Endpoint(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("webhook")
	} else if err != nil {
		return nil, s.internal(err)
	}
	if ep.UserID != nil {
		if *ep.UserID != c.User.ID {
			return nil, notFound("webhook")
		}
		return ep, nil
	}
	role, err := s.store.MemberRole(r.Context(), *ep.OrgID, c.User.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && role != model.RoleOwner && role != model.RoleAdmin) {
		return nil, notFound("webhook")
	} else if err != nil {
		return nil, s.internal(err)
	}
	return ep, nil
}

func (s *Server) webhookJSON(r *http.Request, ep *store.Endpoint) model.Webhook {
	w := model.Webhook{ID: ep.ID, URL: ep.URL, Events: ep.Events, Status: model.WebhookActive, CreatedAt: ep.CreatedAt, CreatedBy: ep.CreatedBy}
	if ep.OrgID != nil {
		w.Org = s.orgSlug(r.Context(), *ep.OrgID)
	}
	if ep.FailingSince != nil {
		w.Status, w.FailingSince = model.WebhookFailing, ep.FailingSince
	}
	return w
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	o, e := s.webhookOrg(r, c, r.URL.Query().Get("org"))
	if e != nil {
		return e
	}
	var orgID int64
	if o != nil {
		orgID = o.ID
	}
	eps, err := s.store.Endpoints(r.Context(), c.User.ID, orgID)
	if err != nil {
		return s.internal(err)
	}
	out := model.WebhookList{Webhooks: []model.Webhook{}}
	for _, ep := range eps {
		out.Webhooks = append(out.Webhooks, s.webhookJSON(r, ep))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// maxEndpoints bounds the endpoints of one owner.
const maxEndpoints = 20

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	if e := s.webhooksOn(); e != nil {
		return e
	}
	var req model.CreateWebhookRequest
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	if len(req.URL) > 2048 {
		return badRequest("url is longer than 2048 characters")
	}
	if err := webhook.ValidateURL(req.URL, s.nt.cfg.AllowPrivate); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "webhook: "))
	}
	events, err := webhook.ParseEvents(strings.Join(req.Events, ","))
	if err != nil {
		return badRequest("%s", err)
	}
	o, e := s.webhookOrg(r, c, req.Org)
	if e != nil {
		return e
	}
	var orgID int64
	ep := &store.Endpoint{ID: newWebhookID(), URL: req.URL, Events: events, CreatedBy: c.User.Name, CreatedAt: s.now().Truncate(time.Second)}
	if o != nil {
		orgID, ep.OrgID = o.ID, &o.ID
	} else {
		ep.UserID = &c.User.ID
	}
	existing, err := s.store.Endpoints(r.Context(), c.User.ID, orgID)
	if err != nil {
		return s.internal(err)
	}
	if len(existing) >= maxEndpoints {
		return errf(http.StatusConflict, "conflict", "at most %d webhooks per owner; remove one first", maxEndpoints)
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return s.internal(err)
	}
	ep.Secret = s.nt.seal(ep.ID, secret)
	if err := s.store.CreateEndpoint(r.Context(), ep); err != nil {
		return s.internal(err)
	}
	out := s.webhookJSON(r, ep)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func newWebhookID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "wh_" + hex.EncodeToString(b)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	ep, e := s.endpointFor(r, c, r.PathValue("id"))
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, s.webhookJSON(r, ep))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	ep, e := s.endpointFor(r, c, r.PathValue("id"))
	if e != nil {
		return e
	}
	if err := s.store.DeleteEndpoint(r.Context(), ep.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.internal(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	if e := s.webhooksOn(); e != nil {
		return e
	}
	ep, e := s.endpointFor(r, c, r.PathValue("id"))
	if e != nil {
		return e
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return s.internal(err)
	}
	if err := s.store.RotateEndpointSecret(r.Context(), ep.ID, s.nt.seal(ep.ID, secret), s.now().Add(rotationOverlap)); err != nil {
		return s.internal(err)
	}
	out := s.webhookJSON(r, ep)
	out.Secret = secret
	writeJSON(w, http.StatusOK, out)
	return nil
}

func deliveryJSON(d *store.Delivery) model.WebhookDelivery {
	out := model.WebhookDelivery{ID: d.ID, WebhookID: d.EndpointID, MessageID: d.MessageID, Event: d.EventType, Status: d.Status, CreatedAt: d.CreatedAt, Attempts: d.Attempts}
	if a := d.Last; a != nil {
		at, code, dur := a.At, a.StatusCode, a.DurationMS
		out.LastAttemptAt, out.LastDurationMS, out.LastResponse, out.LastError = &at, &dur, a.Response, a.Error
		if code != 0 {
			out.LastStatusCode = &code
		}
	}
	return out
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	ep, e := s.endpointFor(r, c, r.PathValue("id"))
	if e != nil {
		return e
	}
	limit, e := parseLimit(r, 100, 1000)
	if e != nil {
		return e
	}
	ds, err := s.store.Deliveries(r.Context(), ep.ID, limit)
	if err != nil {
		return s.internal(err)
	}
	out := model.WebhookDeliveryList{Deliveries: []model.WebhookDelivery{}}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, deliveryJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) redeliver(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	if e := s.webhooksOn(); e != nil {
		return e
	}
	d, err := s.store.DeliveryByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("delivery")
	} else if err != nil {
		return s.internal(err)
	}
	if _, e := s.endpointFor(r, c, d.EndpointID); e != nil {
		if e.status == http.StatusNotFound {
			return notFound("delivery")
		}
		return e
	}
	if err := s.store.SetDeliveryStatus(r.Context(), d.ID, "pending"); err != nil {
		return s.internal(err)
	}
	if _, err := s.nt.q.Redeliver(r.Context(), jobs.WebhookDelivery{MessageID: d.MessageID, EndpointID: d.EndpointID, EventType: d.EventType, Payload: d.Payload}); err != nil {
		return s.internal(err)
	}
	d.Status = "pending"
	writeJSON(w, http.StatusAccepted, deliveryJSON(d))
	return nil
}
