package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/internal/fakeidp"
	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// tokenEndpoint is a tiny RFC 8693 token endpoint backed by the real
// trustedpub verifier, trusting a fakeidp issuer (the stand-in for GitHub's
// and GitLab's issuers).
type tokenEndpoint struct {
	srv   *httptest.Server
	mu    sync.Mutex
	forms []map[string][]string
	// answer, when set, replaces the real answer (for malformed responses).
	answer func(w http.ResponseWriter)
}

func newTokenEndpoint(t *testing.T, idp *fakeidp.IdP, pubs []trustedpub.Publisher) *tokenEndpoint {
	t.Helper()
	v, err := trustedpub.NewVerifier(trustedpub.Config{TrustedIssuers: []string{idp.Issuer()}, Replay: trustedpub.NewMemoryReplayGuard(100, nil), HTTPClient: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	te := &tokenEndpoint{}
	te.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		te.mu.Lock()
		te.forms = append(te.forms, r.PostForm)
		answer := te.answer
		te.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if answer != nil {
			answer(w)
			return
		}
		if !trustedpub.IsTokenExchange(r.PostForm) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "unsupported_grant_type"})
			return
		}
		g, err := v.ExchangeForm(r.Context(), r.PostForm, func(context.Context, string) ([]trustedpub.Publisher, error) { return pubs, nil })
		if err != nil {
			var ref *trustedpub.Refusal
			errors.As(err, &ref)
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": ref.OAuthError(), "error_description": "the ID token was refused: " + string(ref.Reason)})
			return
		}
		_ = json.NewEncoder(w).Encode(g.TokenResponse("csy_oidc_" + strings.Join(g.Namespaces, "_")))
	}))
	t.Cleanup(te.srv.Close)
	return te
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var acmePublisher = func(idp *fakeidp.IdP) []trustedpub.Publisher {
	return []trustedpub.Publisher{
		{ID: "tp1", Namespaces: []string{"@acme"}, Provider: trustedpub.GitHubActions, Issuer: idp.Issuer(), Repository: "acme/widgets", Workflow: "release.yml", Environment: "release"},
		{ID: "tp2", Namespaces: []string{"@gl"}, Provider: trustedpub.GitLabCI, Issuer: idp.Issuer(), Repository: "group/project", Ref: "main"},
	}
}

func TestDetectCI(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, ""},
		{map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x"}, ""}, // no id-token: write
		{map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}, auth.CIGitHubActions},
		{map[string]string{"CODESYNC_ID_TOKEN": "eyJ"}, auth.CIGitLab},
		{map[string]string{"CODESYNC_ID_TOKEN": "eyJ", "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}, auth.CIGitLab},
		{map[string]string{"CODESYNC_AUTH_TOKEN": "csy_x", "CODESYNC_ID_TOKEN": "eyJ"}, ""},
		{map[string]string{"CODESYNC_AUTH_TOKEN": "csy_x", "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}, ""},
	}
	for _, c := range cases {
		got := ""
		if ci := auth.DetectCI(env(c.env)); ci != nil {
			got = ci.Provider
		}
		if got != c.want {
			t.Errorf("%v: %q, want %q", c.env, got, c.want)
		}
	}
}

// TestGitHubActionsExchange: with only the two variables GitHub sets, the
// CLI requests an ID token for audience codesync and exchanges it.
func TestGitHubActionsExchange(t *testing.T) {
	idp := fakeidp.New(t) // stands in for GitHub's issuer and Actions runtime
	te := newTokenEndpoint(t, idp, acmePublisher(idp))
	reqURL, reqTok := idp.ActionsEnv(fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml", Environment: "release", RunID: "99"}))
	getenv := env(map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": reqURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": reqTok})

	tok, ok, err := auth.OIDCExchange(context.Background(), idp.Client(), getenv, te.srv.URL+"/oauth/token", "")
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if tok.AccessToken != "csy_oidc_@acme" || tok.Provider != auth.CIGitHubActions || !slices.Equal(tok.Scopes, []string{"registry:publish", "registry:read"}) {
		t.Errorf("token = %+v", *tok)
	}
	if d := time.Until(tok.Expiry); d > 15*time.Minute || d < 14*time.Minute {
		t.Errorf("expiry %v", tok.Expiry)
	}
	if tok.Claims["repository"] != "acme/widgets" || tok.Claims["run_id"] != "99" || tok.Claims["environment"] != "release" ||
		!strings.HasSuffix(tok.Claims["job_workflow_ref"], "/.github/workflows/release.yml@refs/heads/main") {
		t.Errorf("claims = %v", tok.Claims)
	}
	s := tok.Session()
	if s.Type != "oidc" || s.RefreshToken != "" || s.AccessToken != tok.AccessToken {
		t.Errorf("session = %+v", s)
	}
	for _, f := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), fmt.Sprintf("%v", []*auth.ExchangedToken{tok})} {
		if strings.Contains(f, tok.AccessToken) {
			t.Errorf("formatting leaks the token: %s", f)
		}
	}
	if idp.ActionsCalls() != 1 {
		t.Errorf("Actions endpoint called %d times", idp.ActionsCalls())
	}
	form := te.forms[0]
	if form["grant_type"][0] != "urn:ietf:params:oauth:grant-type:token-exchange" ||
		form["subject_token_type"][0] != "urn:ietf:params:oauth:token-type:id_token" || form["subject_token"][0] == "" {
		t.Errorf("form = %v", form)
	}
	// The same job asking for another audience: the server refuses it.
	_, _, err = auth.OIDCExchange(context.Background(), idp.Client(), getenv, te.srv.URL+"/oauth/token", "https://github.com/acme")
	var le *auth.LoginError
	if !errors.As(err, &le) || le.Code != "invalid_grant" || !strings.Contains(le.Msg, "wrong_audience") {
		t.Fatalf("other audience: %v", err)
	}
}

func TestGitHubActionsRequestRefused(t *testing.T) {
	idp := fakeidp.New(t)
	reqURL, _ := idp.ActionsEnv(fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml"}))
	getenv := env(map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": reqURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong-request-token"})
	_, ok, err := auth.OIDCExchange(context.Background(), idp.Client(), getenv, "http://127.0.0.1:1/oauth/token", "")
	var ce *auth.CIError
	if !ok || !errors.As(err, &ce) || !strings.Contains(ce.Msg, "id-token: write") || strings.Contains(ce.Msg, "wrong-request-token") {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	// The request token never goes to a non-loopback http URL.
	getenv = env(map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "http://actions.example/idtoken", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"})
	if _, _, err := auth.OIDCExchange(context.Background(), idp.Client(), getenv, "http://127.0.0.1:1/oauth/token", ""); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http request URL: %v", err)
	}
}

func TestGitLabExchange(t *testing.T) {
	idp := fakeidp.New(t) // stands in for GitLab's issuer
	te := newTokenEndpoint(t, idp, acmePublisher(idp))
	id, err := idp.Mint(fakeidp.GitLabClaims(fakeidp.GitLabJob{ProjectPath: "group/project"}))
	if err != nil {
		t.Fatal(err)
	}
	getenv := env(map[string]string{"CODESYNC_ID_TOKEN": id})
	tok, ok, err := auth.OIDCExchange(context.Background(), nil, getenv, te.srv.URL+"/oauth/token", "")
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if tok.AccessToken != "csy_oidc_@gl" || tok.Provider != auth.CIGitLab || tok.Claims["project_path"] != "group/project" {
		t.Errorf("token %v claims %v", tok, tok.Claims)
	}
	// The same ID token again: replayed.
	_, _, err = auth.OIDCExchange(context.Background(), nil, getenv, te.srv.URL+"/oauth/token", "")
	if err == nil || !strings.Contains(err.Error(), "replayed") || strings.Contains(err.Error(), id) {
		t.Fatalf("replay: %v", err)
	}
}

func TestNoCIIdentity(t *testing.T) {
	tok, ok, err := auth.OIDCExchange(context.Background(), nil, env(map[string]string{"CODESYNC_AUTH_TOKEN": "csy_dev_x", "CODESYNC_ID_TOKEN": "eyJ"}), "https://codesync.example/oauth/token", "")
	if tok != nil || ok || err != nil {
		t.Fatalf("%v %v %v", tok, ok, err)
	}
}

func TestExchangeResponseChecks(t *testing.T) {
	idp := fakeidp.New(t)
	te := newTokenEndpoint(t, idp, nil)
	cases := map[string]func(w http.ResponseWriter){
		"only Bearer": func(w http.ResponseWriter) { fmt.Fprint(w, `{"access_token":"a","token_type":"N_A","expires_in":60}`) },
		"not an access token": func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"access_token":"a","token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:refresh_token"}`)
		},
		"not a token response": func(w http.ResponseWriter) { fmt.Fprint(w, `{"token_type":"Bearer"}`) },
		"HTTP 502":             func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) },
		"temporarily_unavailable": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"temporarily_unavailable","error_description":"line1\nline2"}`)
		},
	}
	for want, answer := range cases {
		te.mu.Lock()
		te.answer = answer
		te.mu.Unlock()
		_, err := auth.ExchangeIDToken(context.Background(), nil, te.srv.URL, "eyJ.subject.token")
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "eyJ.subject.token") {
			t.Errorf("%s: %v", want, err)
		}
	}
	if _, err := auth.ExchangeIDToken(context.Background(), nil, "http://codesync.example/oauth/token", "eyJ"); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("plain http endpoint: %v", err)
	}
}
