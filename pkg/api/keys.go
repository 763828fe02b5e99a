package api

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/codesync/codesync-cli/pkg/model"
)

// WhoAmI asks the server who the credential belongs to.
func (c *Client) WhoAmI(ctx context.Context) (*model.WhoAmI, error) {
	var out model.WhoAmI
	return &out, c.Do(ctx, Request{Method: http.MethodGet, Path: "/v1/auth/whoami"}, &out)
}

// Health is the public health check.
func (c *Client) Health(ctx context.Context) (*model.Health, error) {
	var out model.Health
	return &out, c.Do(ctx, Request{Method: http.MethodGet, Path: "/v1/auth/health", Anonymous: true}, &out)
}

// Keys iterates over the caller's keys, page by page.
func (c *Client) Keys(ctx context.Context, all bool) iter.Seq2[model.Key, error] {
	return func(yield func(model.Key, error) bool) {
		q := url.Values{"limit": {"100"}}
		if all {
			q.Set("all", "true")
		}
		for {
			var page model.KeyList
			if err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/v1/keys", Query: q}, &page); err != nil {
				yield(model.Key{}, err)
				return
			}
			for _, k := range page.Keys {
				if !yield(k, nil) {
					return
				}
			}
			if page.NextCursor == nil {
				return
			}
			q.Set("cursor", *page.NextCursor)
		}
	}
}

// CreateKey creates a key; the answer holds the token, shown once.
func (c *Client) CreateKey(ctx context.Context, req model.CreateKeyRequest) (*model.KeyWithToken, error) {
	var out model.KeyWithToken
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: "/v1/keys", Body: req}, &out)
}

// GetKey returns one key.
func (c *Client) GetKey(ctx context.Context, id string) (*model.Key, error) {
	var out model.Key
	return &out, keyNotFound(c.Do(ctx, Request{Method: http.MethodGet, Path: "/v1/keys/" + url.PathEscape(id)}, &out), id)
}

// RotateKey rotates a key. idempotencyKey makes the request safe to retry.
func (c *Client) RotateKey(ctx context.Context, id string, req model.RotateKeyRequest, idempotencyKey string) (*model.RotateKeyResponse, error) {
	var out model.RotateKeyResponse
	return &out, keyNotFound(c.Do(ctx, Request{Method: http.MethodPost, Path: "/v1/keys/" + url.PathEscape(id) + "/rotate", Body: req, IdempotencyKey: idempotencyKey}, &out), id)
}

// RevokeKey revokes a key.
func (c *Client) RevokeKey(ctx context.Context, id string) (*model.Key, error) {
	var out model.Key
	return &out, keyNotFound(c.Do(ctx, Request{Method: http.MethodDelete, Path: "/v1/keys/" + url.PathEscape(id)}, &out), id)
}

// keyNotFound names the key in a 404: "no such key key_…".
func keyNotFound(err error, id string) error {
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		he.Description = "no such key " + id
	}
	return err
}

// ExportOptions select an audit export.
type ExportOptions struct {
	Format        string
	Since         string
	IncludeEvents bool
	Org           string // every member's keys that reach this organization
}

// Export streams the audit export; the caller reads and closes the body.
func (c *Client) Export(ctx context.Context, o ExportOptions) (io.ReadCloser, error) {
	q := url.Values{"format": {o.Format}}
	if o.Since != "" {
		q.Set("since", o.Since)
	}
	if o.IncludeEvents {
		q.Set("include_events", "true")
	}
	if o.Org != "" {
		q.Set("org", o.Org)
	}
	resp, err := c.Stream(ctx, Request{Method: http.MethodGet, Path: "/v1/keys/export", Query: q, Accept: "*/*"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// EventFilter selects audit events.
type EventFilter struct {
	Since string
	Types string
	KeyID string
	Limit int    // 0: all
	Org   string // the organization's log instead of the caller's
}

// Events iterates over matching audit events, up to Limit.
func (c *Client) Events(ctx context.Context, f EventFilter) iter.Seq2[model.Event, error] {
	return func(yield func(model.Event, error) bool) {
		q := url.Values{}
		if f.Since != "" {
			q.Set("since", f.Since)
		}
		if f.Types != "" {
			q.Set("type", f.Types)
		}
		if f.KeyID != "" {
			q.Set("key_id", f.KeyID)
		}
		if f.Org != "" {
			q.Set("org", f.Org)
		}
		n := 0
		for {
			page := 1000
			if f.Limit > 0 && f.Limit-n < page {
				page = f.Limit - n
			}
			q.Set("limit", strconv.Itoa(page))
			var out model.EventList
			if err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/v1/audit/events", Query: q}, &out); err != nil {
				yield(model.Event{}, err)
				return
			}
			for _, e := range out.Events {
				if !yield(e, nil) {
					return
				}
				n++
			}
			if out.NextCursor == nil || (f.Limit > 0 && n >= f.Limit) {
				return
			}
			q.Set("cursor", *out.NextCursor)
		}
	}
}

// RegisterJWTKey registers an RSA public key (PEM).
func (c *Client) RegisterJWTKey(ctx context.Context, name, pemData string) (*model.JWTKey, error) {
	var out model.JWTKey
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: "/v1/jwt/keys", Body: model.RegisterJWTKeyRequest{Name: name, PublicKey: pemData}}, &out)
}

// JWTKeys lists the registered public keys.
func (c *Client) JWTKeys(ctx context.Context) ([]model.JWTKey, error) {
	var out model.JWTKeyList
	return out.Keys, c.Do(ctx, Request{Method: http.MethodGet, Path: "/v1/jwt/keys"}, &out)
}

// DeleteJWTKey removes a registered public key.
func (c *Client) DeleteJWTKey(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: http.MethodDelete, Path: "/v1/jwt/keys/" + url.PathEscape(id)}, nil)
}

// Collect drains a paging iterator into a slice (never nil, so it prints as
// [] in JSON), stopping at the first error.
func Collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	out := []T{}
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
