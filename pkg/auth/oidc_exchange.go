package auth

// Trusted publishing, CLI side: in a CI job with no CODESYNC_AUTH_TOKEN, get
// the job's OpenID Connect ID token from the CI provider and exchange it
// (RFC 8693) at the server's token endpoint for a short-lived access token.
// Nothing here writes to disk; the token lives in the process only.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Trusted publishing names.
const (
	// TypeOIDC is the Session.Type (and auth status source) of an
	// exchanged CI identity.
	TypeOIDC = "oidc"
	// DefaultOIDCAudience is the aud the CLI asks GitHub for; it must equal
	// the server's --oidc-audience.
	DefaultOIDCAudience = "codesync"

	CIGitHubActions = "github-actions"
	CIGitLab        = "gitlab-ci"

	// GrantTypeTokenExchange is the grant the server's metadata lists in
	// grant_types_supported when it does trusted publishing.
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"

	// Environment variables read.
	EnvActionsRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvActionsRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
	EnvCIIDToken           = "CODESYNC_ID_TOKEN"
	EnvAuthToken           = "CODESYNC_AUTH_TOKEN"

	maxCIResponse = 64 << 10
)

// CIIdentity is an ID token source found in the environment.
type CIIdentity struct {
	Provider string // CIGitHubActions or CIGitLab

	requestURL   string
	requestToken string
	idToken      string
}

// DetectCI finds a CI identity: nil when CODESYNC_AUTH_TOKEN is set (an
// explicit token always wins) or when the job cannot mint an ID token.
// GitHub Actions: ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN (set only for jobs with
// `permissions: id-token: write`). GitLab CI, or any CI: an ID token in
// CODESYNC_ID_TOKEN (GitLab's `id_tokens:` keyword). When both are present
// CODESYNC_ID_TOKEN wins: the user put it there on purpose.
func DetectCI(getenv func(string) string) *CIIdentity {
	if getenv(EnvAuthToken) != "" {
		return nil
	}
	if t := strings.TrimSpace(getenv(EnvCIIDToken)); t != "" {
		return &CIIdentity{Provider: CIGitLab, idToken: t}
	}
	u, t := getenv(EnvActionsRequestURL), getenv(EnvActionsRequestToken)
	if u != "" && t != "" {
		return &CIIdentity{Provider: CIGitHubActions, requestURL: u, requestToken: t}
	}
	return nil
}

// CIError: the CI provider did not give an ID token (exit code as a login
// failure, like LoginError).
type CIError struct{ Msg string }

func (e *CIError) Error() string { return e.Msg }

// IDToken returns the job's ID token. For GitHub Actions it is requested
// for audience (DefaultOIDCAudience when empty); a GitLab token's audience
// is fixed by the job's `id_tokens: …: aud:`.
func (c *CIIdentity) IDToken(ctx context.Context, hc *http.Client, audience string) (string, error) {
	if c.Provider != CIGitHubActions {
		return c.idToken, nil
	}
	if audience == "" {
		audience = DefaultOIDCAudience
	}
	u, err := url.Parse(c.requestURL)
	if err != nil || !oidcSecureURL(u) {
		return "", &CIError{Msg: EnvActionsRequestURL + " is not an https URL"}
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", &CIError{Msg: EnvActionsRequestURL + " is not a valid URL"}
	}
	req.Header.Set("Authorization", "Bearer "+c.requestToken)
	req.Header.Set("Accept", "application/json")
	resp, err := oidcHTTPClient(hc).Do(req)
	if err != nil {
		return "", &CIError{Msg: "requesting the GitHub Actions ID token: " + oidcScrubURLError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCIResponse))
	if err != nil {
		return "", &CIError{Msg: "reading the GitHub Actions ID token: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return "", &CIError{Msg: fmt.Sprintf("GitHub Actions refused the ID token request (HTTP %d); does the job have `permissions: id-token: write`?", resp.StatusCode)}
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", &CIError{Msg: "GitHub Actions answered the ID token request without a token"}
	}
	return v.Value, nil
}

// ExchangedToken is the access token the server issued for a CI identity.
// Its String and GoString leave the token out.
type ExchangedToken struct {
	AccessToken string
	Expiry      time.Time
	Scopes      []string
	// Provider and Claims describe the CI identity for auth status: the
	// ID token's own claims (repository, workflow, ref, environment,
	// run_id), read for display only — the server verified them.
	Provider string
	Claims   map[string]string
}

func (t *ExchangedToken) String() string {
	return fmt.Sprintf("oidc token (%s, expires %s)", t.Provider, t.Expiry.UTC().Format(time.RFC3339))
}

// GoString keeps %#v from printing the token.
func (t *ExchangedToken) GoString() string { return t.String() }

// Session is the in-memory session of the exchanged token (Type "oidc",
// no refresh token). Never store it: the next command exchanges anew.
func (t *ExchangedToken) Session() *Session {
	return &Session{Type: TypeOIDC, AccessToken: t.AccessToken, Expiry: t.Expiry, Scopes: t.Scopes}
}

// ExchangeIDToken performs the RFC 8693 token exchange at tokenEndpoint
// through hc: grant_type token-exchange, subject_token_type id_token. It
// accepts only a Bearer access token. A refusal is a *LoginError with the
// server's error code.
func ExchangeIDToken(ctx context.Context, hc *http.Client, tokenEndpoint, idToken string) (*ExchangedToken, error) {
	u, err := url.Parse(tokenEndpoint)
	if err != nil || !oidcSecureURL(u) {
		return nil, fmt.Errorf("the token endpoint %q is not an https URL; refusing to send an ID token to it", tokenEndpoint)
	}
	form := url.Values{
		"grant_type":         {GrantTypeTokenExchange},
		"subject_token_type": {tokenTypeIDToken},
		"subject_token":      {idToken},
		"client_id":          {ClientID},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := oidcHTTPClient(hc).Do(req)
	if err != nil {
		return nil, fmt.Errorf("exchanging the CI identity: %s", oidcScrubURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCIResponse))
	if err != nil {
		return nil, fmt.Errorf("exchanging the CI identity: %w", err)
	}
	var tr struct {
		AccessToken     string `json:"access_token"`
		TokenType       string `json:"token_type"`
		IssuedTokenType string `json:"issued_token_type"`
		ExpiresIn       int64  `json:"expires_in"`
		Scope           string `json:"scope"`
		Error           string `json:"error"`
		ErrorDesc       string `json:"error_description"`
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	jsonErr := json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK {
		if jsonErr == nil && tr.Error != "" {
			msg := "trusted publishing: the server refused the CI identity (" + oidcPrintable(tr.Error, 40) + ")"
			if tr.ErrorDesc != "" {
				msg += ": " + oidcPrintable(tr.ErrorDesc, 200)
			}
			return nil, &LoginError{Code: oidcPrintable(tr.Error, 40), Msg: msg}
		}
		return nil, fmt.Errorf("trusted publishing: the token endpoint answered HTTP %d", resp.StatusCode)
	}
	if mt != "application/json" || jsonErr != nil || tr.AccessToken == "" {
		return nil, errors.New("trusted publishing: the token endpoint's answer is not a token response")
	}
	if !strings.EqualFold(tr.TokenType, "Bearer") {
		return nil, fmt.Errorf("trusted publishing: the server issued a %q token; only Bearer tokens are used", oidcPrintable(tr.TokenType, 40))
	}
	if tr.IssuedTokenType != "" && tr.IssuedTokenType != tokenTypeAccessToken {
		return nil, fmt.Errorf("trusted publishing: the server issued a %q, not an access token", oidcPrintable(tr.IssuedTokenType, 80))
	}
	t := &ExchangedToken{AccessToken: tr.AccessToken, Scopes: strings.Fields(tr.Scope), Claims: oidcDisplayClaims(idToken)}
	if tr.ExpiresIn > 0 {
		t.Expiry = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return t, nil
}

// OIDCExchange detects the CI identity, gets its ID token (GitHub: for
// audience) and exchanges it. ok is false when the environment offers no CI
// identity (then err is nil).
func OIDCExchange(ctx context.Context, hc *http.Client, getenv func(string) string, tokenEndpoint, audience string) (t *ExchangedToken, ok bool, err error) {
	ci := DetectCI(getenv)
	if ci == nil {
		return nil, false, nil
	}
	id, err := ci.IDToken(ctx, hc, audience)
	if err != nil {
		return nil, true, err
	}
	t, err = ExchangeIDToken(ctx, hc, tokenEndpoint, id)
	if err != nil {
		return nil, true, err
	}
	t.Provider = ci.Provider
	return t, true, nil
}

// oidcDisplayClaims reads, without verifying, the claims worth showing in auth
// status from the job's own ID token. The server verified the token; this
// is only the CLI describing what it sent.
func oidcDisplayClaims(raw string) map[string]string {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA})
	if err != nil {
		return nil
	}
	var c map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return nil
	}
	out := map[string]string{}
	for _, k := range []string{"iss", "sub", "repository", "job_workflow_ref", "project_path", "ci_config_ref_uri", "ref", "environment", "run_id", "pipeline_id"} {
		if s, ok := c[k].(string); ok && s != "" {
			out[k] = oidcPrintable(s, 200)
		}
	}
	return out
}

func oidcHTTPClient(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// oidcSecureURL: https, or http to a loopback address.
func oidcSecureURL(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		h := u.Hostname()
		return h == "127.0.0.1" || h == "::1" || h == "localhost"
	}
	return false
}

// oidcScrubURLError drops the URL from a transport error: the GitHub request URL
// is not secret, but keep errors short and free of query strings.
func oidcScrubURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// oidcPrintable keeps server-sent text to one bounded line.
func oidcPrintable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
