package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// TrustedPublishers lists the trusted publishers of the scopes the caller
// owns and of its organizations' scopes.
func (c *Client) TrustedPublishers(ctx context.Context) ([]trustedpub.Publisher, error) {
	var out struct {
		Publishers []trustedpub.Publisher `json:"trusted_publishers"`
	}
	if err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/v1/trusted-publishers"}, &out); err != nil {
		return nil, err
	}
	if out.Publishers == nil {
		out.Publishers = []trustedpub.Publisher{}
	}
	return out.Publishers, nil
}

// AddTrustedPublisher registers a trusted publisher.
func (c *Client) AddTrustedPublisher(ctx context.Context, req model.TrustedPublisherRequest) (*trustedpub.Publisher, error) {
	var out trustedpub.Publisher
	return &out, c.Do(ctx, Request{Method: http.MethodPost, Path: "/v1/trusted-publishers", Body: req}, &out)
}

// RemoveTrustedPublisher removes trusted publisher id.
func (c *Client) RemoveTrustedPublisher(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: http.MethodDelete, Path: "/v1/trusted-publishers/" + url.PathEscape(id)}, nil)
}
