package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/codesync/codesync-cli/pkg/model"
)

func webhookPath(rest ...string) string {
	p := "/v1/webhooks"
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Webhooks lists the caller's webhook endpoints, or an organization's (org
// not empty; owners and admins).
func (c *Client) Webhooks(ctx context.Context, org string) ([]model.Webhook, error) {
	p := webhookPath()
	if org != "" {
		p += "?" + url.Values{"org": {org}}.Encode()
	}
	var out model.WebhookList
	if err := c.Do(ctx, Request{Method: http.MethodGet, Path: p}, &out); err != nil {
		return nil, err
	}
	if out.Webhooks == nil {
		out.Webhooks = []model.Webhook{}
	}
	return out.Webhooks, nil
}

// CreateWebhook registers an endpoint; the answer holds its signing secret,
// shown this once.
func (c *Client) CreateWebhook(ctx context.Context, req model.CreateWebhookRequest) (*model.Webhook, error) {
	var out model.Webhook
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: webhookPath(), Body: req}, &out)
}

// DeleteWebhook removes an endpoint and its delivery log.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: http.MethodDelete, Path: webhookPath(id)}, nil)
}

// WebhookDeliveries lists an endpoint's delivery log, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, id string) ([]model.WebhookDelivery, error) {
	var out model.WebhookDeliveryList
	if err := c.Do(ctx, Request{Method: http.MethodGet, Path: webhookPath(id, "deliveries")}, &out); err != nil {
		return nil, err
	}
	if out.Deliveries == nil {
		out.Deliveries = []model.WebhookDelivery{}
	}
	return out.Deliveries, nil
}

// Redeliver sends a delivery's message again (same webhook-id).
func (c *Client) Redeliver(ctx context.Context, deliveryID string) (*model.WebhookDelivery, error) {
	var out model.WebhookDelivery
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: webhookPath("deliveries", deliveryID, "redeliver")}, &out)
}

// RotateWebhookSecret gives an endpoint a new signing secret (shown once);
// the old one keeps signing alongside for 24 hours.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string) (*model.Webhook, error) {
	var out model.Webhook
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: webhookPath(id, "rotate-secret")}, &out)
}
