package model

import "time"

// Webhook is a webhook endpoint (GET /v1/webhooks). Secret is present only
// in the answers to its creation and to a secret rotation.
type Webhook struct {
	ID           string     `json:"id"`
	URL          string     `json:"url"`
	Events       []string   `json:"events"`
	Org          string     `json:"org,omitempty"`
	Status       string     `json:"status"` // active | failing
	FailingSince *time.Time `json:"failing_since,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by"`
	Secret       string     `json:"secret,omitempty"`
}

// Webhook statuses.
const (
	WebhookActive  = "active"
	WebhookFailing = "failing"
)

// WebhookList is the answer of GET /v1/webhooks.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
}

// CreateWebhookRequest is the body of POST /v1/webhooks. Events empty:
// every event. Org: an organization's endpoint (owners and admins).
type CreateWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"`
	Org    string   `json:"org,omitempty"`
}

// WebhookDelivery is one message to one endpoint in the delivery log.
type WebhookDelivery struct {
	ID             string     `json:"id"`
	WebhookID      string     `json:"webhook_id"`
	MessageID      string     `json:"message_id"`
	Event          string     `json:"event"`
	Status         string     `json:"status"` // pending | delivered | failed
	CreatedAt      time.Time  `json:"created_at"`
	Attempts       int        `json:"attempts"`
	LastAttemptAt  *time.Time `json:"last_attempt_at,omitempty"`
	LastStatusCode *int       `json:"last_status_code,omitempty"`
	LastDurationMS *int64     `json:"last_duration_ms,omitempty"`
	LastResponse   string     `json:"last_response,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
}

// WebhookDeliveryList is the answer of GET /v1/webhooks/{id}/deliveries.
type WebhookDeliveryList struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
}
