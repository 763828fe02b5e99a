package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Identity is who the upstream provider says signed in.
type Identity struct {
	Provider string   // the provider's configured id
	Subject  string   // stable upstream id (OIDC "sub", GitHub's numeric user id): the link key
	Username string   // suggested CodeSync user name; may change upstream
	Email    string   // informational; never used to match accounts
	Groups   []string // group names the mapping rules match
}

// ErrDenied wraps every answer of the upstream provider that says the
// person may not sign in (any more): a refused code, a revoked or expired
// refresh token, a disabled account, a different subject. At a CodeSync
// refresh it means invalid_grant. Other errors (network, 5xx) are
// transient; the server fails the refresh too, but may log them apart.
var ErrDenied = errors.New("federation: the identity provider refused")

// ErrNoRefreshToken is returned by Recheck when the provider gave no
// refresh credential at sign-in, so it cannot be asked again: the person
// must sign in again.
var ErrNoRefreshToken = errors.New("federation: no upstream refresh token; sign in again")

// Provider is one configured upstream identity provider.
type Provider interface {
	// ID is the configured id ([a-z0-9-]+).
	ID() string
	// Name is the label of the "Sign in with" button.
	Name() string
	// RecheckInterval is how often a CodeSync refresh asks the provider again.
	RecheckInterval() time.Duration
	// AuthURL is the upstream authorization URL for a sign-in with this
	// state, nonce (OIDC) and PKCE verifier (sent as its S256 challenge).
	// For OIDC providers the first call runs discovery.
	AuthURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Exchange redeems the callback's code and returns the identity and
	// the upstream credential to keep (sealed) for Recheck.
	Exchange(ctx context.Context, code, verifier, nonce string) (Identity, string, error)
	// Recheck asks the provider again with the kept credential of the
	// identity whose subject is given. It returns the current identity
	// (groups) and the credential to keep from now on (rotated or the
	// same). A different subject, a refused refresh or a disabled account
	// return an error wrapping ErrDenied.
	Recheck(ctx context.Context, subject, refreshToken string) (Identity, string, error)
}

// Options are what providers need from the server.
type Options struct {
	// ServerURL is the public base URL of the server; the redirect URI
	// registered upstream is ServerURL + "/auth/callback/" + ID.
	ServerURL string
	// HTTPClient makes the upstream requests (default: DefaultHTTPClient).
	HTTPClient *http.Client
}

// DefaultHTTPClient is the client for upstream requests: a 30-second
// timeout, and no redirects followed, so a token endpoint that answers 307
// cannot make the server send a code, a refresh token or the client secret
// to another place.
func DefaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// RedirectURI is the callback URL to register at provider id.
func RedirectURI(serverURL, id string) string {
	return strings.TrimRight(serverURL, "/") + "/auth/callback/" + id
}

// StartPath is the path of the server's "Sign in with" link for provider id.
func StartPath(id string) string { return "/auth/start/" + id }

// Providers are the configured providers in the file's order (the order of
// the buttons).
type Providers struct {
	list []Provider
}

// NewProviders builds the providers of cfg. It makes no network request:
// OIDC discovery happens at the first sign-in, so the server starts while a
// provider is unreachable.
func NewProviders(cfg *Config, opts Options) (*Providers, error) {
	if opts.ServerURL == "" {
		return nil, errors.New("federation: the server URL is required for the redirect URIs")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = DefaultHTTPClient()
	}
	ps := &Providers{}
	for _, pc := range cfg.IdentityProviders {
		var p Provider
		switch pc.Type {
		case TypeOIDC, TypeGitLab:
			p = NewOIDCProvider(pc, opts)
		case TypeGitHub:
			p = NewGitHubProvider(pc, opts)
		default:
			return nil, fmt.Errorf("federation: provider %q: unknown type %q", pc.ID, pc.Type)
		}
		ps.list = append(ps.list, p)
	}
	return ps, nil
}

// Get returns provider id, or nil.
func (ps *Providers) Get(id string) Provider {
	for _, p := range ps.list {
		if p.ID() == id {
			return p
		}
	}
	return nil
}

// List returns the providers in the configuration's order.
func (ps *Providers) List() []Provider { return append([]Provider(nil), ps.list...) }

// denied wraps an upstream refusal: an *oauth2.RetrieveError with a 4xx
// status (invalid_grant, invalid_client, ...) becomes ErrDenied, with only
// the OAuth error code in the message (never the response body).
func denied(what string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		// 4xx, or (GitHub) 200 with an "error" field
		code := re.ErrorCode
		if code == "" {
			code = fmt.Sprintf("HTTP %d", re.Response.StatusCode)
		}
		return fmt.Errorf("%w: %s: %s", ErrDenied, what, oneLine(code))
	}
	return fmt.Errorf("federation: %s: %w", what, scrub(err))
}

// scrub drops the response body an *oauth2.RetrieveError would print.
func scrub(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil {
			return fmt.Errorf("token endpoint answered HTTP %d %s", re.Response.StatusCode, oneLine(re.ErrorCode))
		}
		return errors.New("token endpoint refused")
	}
	return err
}
