package model

// EventTokenLeaked: a key was reported as leaked (secret scanning) or found
// by `scan --revoke`; the event's detail holds where it was found.
const EventTokenLeaked = "token:leaked"

// KeyCheckRequest is POST /v1/keys/check: SHA-256 hashes (hex) of tokens
// found by `scan --check`. The tokens themselves are never sent.
type KeyCheckRequest struct {
	SHA256 []string `json:"sha256"`
}

// KeyCheckResult is the server's answer for one hash. KeyID and Name are
// only given for the caller's own keys.
type KeyCheckResult struct {
	SHA256 string  `json:"sha256"`
	Status string  `json:"status"` // active, expiring, expired, revoked, unknown
	Owned  bool    `json:"owned"`
	KeyID  *string `json:"key_id"`
	Name   *string `json:"name"`
}

// KeyCheckResponse is what POST /v1/keys/check returns, in request order.
type KeyCheckResponse struct {
	Results []KeyCheckResult `json:"results"`
}

// KeyStatusUnknown: no key has this hash.
const KeyStatusUnknown = "unknown"

// SecretScanningReport is one item of GitHub's secret-scanning partner
// format, POST /v1/secret-scanning/report.
type SecretScanningReport struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// SecretScanningLabel is the answer for one reported token: true_positive
// when it is a CodeSync key (revoked at once if it was still usable),
// false_positive otherwise. The token is named by its SHA-256, never echoed.
type SecretScanningLabel struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}
