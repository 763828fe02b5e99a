package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// GitHubProvider signs in with a GitHub OAuth app (github.com or GitHub
// Enterprise Server). GitHub is not an OpenID provider: the identity is
// GET /user, and the groups the mapping rules match are the logins of the
// organizations (GET /user/orgs) and ORG/TEAM-SLUG of the teams (GET
// /user/teams) the app may see (scope read:org; an organization that
// restricts OAuth apps hides its membership until it approves the app).
//
// An OAuth app's access token does not expire and comes without a refresh
// token: it is the credential kept for Recheck, which asks the API again
// (401 once the person revoked the app or the account was suspended). When
// GitHub does send a refresh token (expiring user tokens), that is kept and
// used instead.
type GitHubProvider struct {
	cfg    ProviderConfig
	oauth  *oauth2.Config
	client *http.Client
	api    string
}

// NewGitHubProvider returns the provider for cfg (type github).
func NewGitHubProvider(cfg ProviderConfig, opts Options) *GitHubProvider {
	c := opts.HTTPClient
	if c == nil {
		c = DefaultHTTPClient()
	}
	base := strings.TrimRight(cfg.GitHubURL, "/")
	return &GitHubProvider{
		cfg:    cfg,
		client: c,
		api:    strings.TrimRight(cfg.APIURL, "/"),
		oauth: &oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret.Reveal(),
			Endpoint: oauth2.Endpoint{
				AuthURL:   base + "/login/oauth/authorize",
				TokenURL:  base + "/login/oauth/access_token",
				AuthStyle: oauth2.AuthStyleInParams,
			},
			RedirectURL: RedirectURI(opts.ServerURL, cfg.ID),
			Scopes:      cfg.Scopes,
		},
	}
}

// ID implements Provider.
func (p *GitHubProvider) ID() string { return p.cfg.ID }

// Name implements Provider.
func (p *GitHubProvider) Name() string { return p.cfg.Name }

// RecheckInterval implements Provider.
func (p *GitHubProvider) RecheckInterval() time.Duration { return p.cfg.Recheck }

// AuthURL implements Provider. The nonce has no use with GitHub; state and
// the PKCE challenge are sent.
func (p *GitHubProvider) AuthURL(_ context.Context, state, _, verifier string) (string, error) {
	return p.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

// The kept credential says which kind of token it holds.
const (
	ghAccessPrefix  = "access:"
	ghRefreshPrefix = "refresh:"
)

func ghCredential(tok *oauth2.Token) string {
	if tok.RefreshToken != "" {
		return ghRefreshPrefix + tok.RefreshToken
	}
	return ghAccessPrefix + tok.AccessToken
}

func (p *GitHubProvider) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, p.client)
}

// Exchange implements Provider.
func (p *GitHubProvider) Exchange(ctx context.Context, code, verifier, _ string) (Identity, string, error) {
	tok, err := p.oauth.Exchange(p.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, "", denied("code exchange", err)
	}
	id, err := p.identity(ctx, tok.AccessToken)
	if err != nil {
		return Identity{}, "", err
	}
	return id, ghCredential(tok), nil
}

// Recheck implements Provider.
func (p *GitHubProvider) Recheck(ctx context.Context, subject, credential string) (Identity, string, error) {
	var access string
	switch {
	case credential == "":
		return Identity{}, "", ErrNoRefreshToken
	case strings.HasPrefix(credential, ghRefreshPrefix):
		tok, err := p.oauth.TokenSource(p.ctx(ctx), &oauth2.Token{RefreshToken: strings.TrimPrefix(credential, ghRefreshPrefix)}).Token()
		if err != nil {
			return Identity{}, "", denied("refresh", err)
		}
		access, credential = tok.AccessToken, ghCredential(tok)
	case strings.HasPrefix(credential, ghAccessPrefix):
		access = strings.TrimPrefix(credential, ghAccessPrefix)
	default:
		return Identity{}, "", fmt.Errorf("%w: unknown kind of stored credential", ErrDenied)
	}
	id, err := p.identity(ctx, access)
	if err != nil {
		return Identity{}, "", err
	}
	if id.Subject != subject {
		return Identity{}, "", fmt.Errorf("%w: the token belongs to another GitHub user", ErrDenied)
	}
	return id, credential, nil
}

type ghUser struct {
	ID    int64   `json:"id"`
	Login string  `json:"login"`
	Email *string `json:"email"`
}

type ghOrg struct {
	Login string `json:"login"`
}

type ghTeam struct {
	Slug         string `json:"slug"`
	Organization ghOrg  `json:"organization"`
}

func (p *GitHubProvider) identity(ctx context.Context, access string) (Identity, error) {
	var u ghUser
	if err := p.get(ctx, access, "/user", func(b []byte) error { return json.Unmarshal(b, &u) }); err != nil {
		return Identity{}, err
	}
	if u.ID == 0 || u.Login == "" {
		return Identity{}, errors.New("federation: GitHub /user: no id or login")
	}
	id := Identity{Provider: p.cfg.ID, Subject: strconv.FormatInt(u.ID, 10), Username: u.Login, Groups: []string{}}
	if u.Email != nil {
		id.Email = *u.Email
	}
	seen := map[string]bool{}
	add := func(g string) {
		if k := strings.ToLower(g); !seen[k] {
			seen[k] = true
			id.Groups = append(id.Groups, g)
		}
	}
	if err := p.get(ctx, access, "/user/orgs?per_page=100", func(b []byte) error {
		var orgs []ghOrg
		if err := json.Unmarshal(b, &orgs); err != nil {
			return err
		}
		for _, o := range orgs {
			add(o.Login)
		}
		return nil
	}); err != nil {
		return Identity{}, err
	}
	if err := p.get(ctx, access, "/user/teams?per_page=100", func(b []byte) error {
		var teams []ghTeam
		if err := json.Unmarshal(b, &teams); err != nil {
			return err
		}
		for _, t := range teams {
			add(t.Organization.Login) // a team member belongs to its organization
			add(t.Organization.Login + "/" + t.Slug)
		}
		return nil
	}); err != nil {
		return Identity{}, err
	}
	return id, nil
}

var nextLinkRE = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// maxPages bounds the pagination of a list (100 per page).
const maxPages = 20

// get calls the REST API at path and hands each page's body to each,
// following Link rel="next" on the same host.
func (p *GitHubProvider) get(ctx context.Context, access, path string, each func([]byte) error) error {
	next := p.api + path
	base, err := url.Parse(p.api)
	if err != nil {
		return err
	}
	for page := 0; next != "" && page < maxPages; page++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		res, err := p.client.Do(req)
		if err != nil {
			return fmt.Errorf("federation: GitHub %s: %w", path, err)
		}
		body, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("federation: GitHub %s: %w", path, err)
		}
		switch {
		case res.StatusCode == http.StatusOK:
		case res.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("%w: GitHub %s: HTTP 401 (token revoked or expired)", ErrDenied, req.URL.Path)
		case res.StatusCode == http.StatusForbidden && res.Header.Get("X-RateLimit-Remaining") != "0":
			return fmt.Errorf("%w: GitHub %s: HTTP 403 (account suspended or access refused)", ErrDenied, req.URL.Path)
		default:
			return fmt.Errorf("federation: GitHub %s: HTTP %d", req.URL.Path, res.StatusCode)
		}
		if err := each(body); err != nil {
			return fmt.Errorf("federation: GitHub %s: %w", req.URL.Path, err)
		}
		next = ""
		if m := nextLinkRE.FindStringSubmatch(res.Header.Get("Link")); m != nil {
			if u, err := url.Parse(m[1]); err == nil && u.Scheme == base.Scheme && u.Host == base.Host {
				next = u.String()
			}
		}
	}
	return nil
}

var _ Provider = (*GitHubProvider)(nil)
