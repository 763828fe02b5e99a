package api

import (
	"context"
	"net/http"

	"github.com/codesync/codesync-cli/pkg/model"
)

// MaxCheckHashes is how many hashes one POST /v1/keys/check takes.
const MaxCheckHashes = 100

// CheckKeys asks the server about keys by the SHA-256 (hex) of their
// tokens, in batches; the tokens themselves are never sent. Results come back
// in the order of hashes.
func (c *Client) CheckKeys(ctx context.Context, hashes []string) ([]model.KeyCheckResult, error) {
	var out []model.KeyCheckResult
	for start := 0; start < len(hashes); start += MaxCheckHashes {
		end := min(start+MaxCheckHashes, len(hashes))
		var page model.KeyCheckResponse
		// the check changes nothing, so it may be retried (after a 429, say)
		err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/v1/keys/check", Body: model.KeyCheckRequest{SHA256: hashes[start:end]},
			IdempotencyKey: NewIdempotencyKey()}, &page)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Results...)
	}
	return out, nil
}
