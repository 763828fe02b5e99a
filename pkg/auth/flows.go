package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pkg/browser"
	"golang.org/x/oauth2"

	"github.com/codesync/codesync-cli/pkg/token"
)

// LoginError ends a login the person or server refused: exit 4.
type LoginError struct {
	Code string
	Msg  string
}

func (e *LoginError) Error() string { return e.Msg }

// FlowOptions configure the interactive login flows.
type FlowOptions struct {
	Scopes     []string
	HTTPClient *http.Client
	Stderr     io.Writer
	Getenv     func(string) string
	NoBrowser  bool
	Spinner    func(msg string) (stop func())
	// Timeout bounds the browser flow (default 5 minutes).
	Timeout time.Duration
	// PollMargin is added to the server's polling interval (default 1 s):
	// clock drift on VMs and WSL otherwise triggers slow_down.
	PollMargin time.Duration
	// Sleep waits between device polls and Now tells the time (tests use a
	// fake clock for both).
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

func (o *FlowOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *FlowOptions) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, o.HTTPClient)
}

// BrowserAvailable: a desktop session that is not SSH, or a browser command
// named in CODESYNC_BROWSER or BROWSER.
func BrowserAvailable(getenv func(string) string) bool {
	if getenv("CODESYNC_BROWSER") != "" || getenv("BROWSER") != "" {
		return true
	}
	if getenv("SSH_CONNECTION") != "" || getenv("SSH_CLIENT") != "" || getenv("SSH_TTY") != "" {
		return false
	}
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != ""
}

// OpenBrowser opens u with CODESYNC_BROWSER, then BROWSER, then the
// platform's default (github.com/pkg/browser).
func OpenBrowser(getenv func(string) string, u string) error {
	for _, v := range []string{"CODESYNC_BROWSER", "BROWSER"} {
		if c := getenv(v); c != "" {
			// A program path with spaces ("C:\Program Files\...\chrome.exe")
			// is taken whole; otherwise the value is a command and its
			// arguments separated by spaces.
			f := []string{c}
			if fi, err := os.Stat(c); err != nil || fi.IsDir() {
				f = strings.Fields(c)
			}
			cmd := exec.Command(f[0], append(f[1:], u)...)
			cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
			return cmd.Start() // the browser may keep running; we do not wait
		}
	}
	browser.Stdout, browser.Stderr = io.Discard, io.Discard
	return browser.OpenURL(u)
}

// WebFlow runs the authorization code flow with PKCE (S256) and a loopback
// redirect on 127.0.0.1 with an ephemeral port.
func WebFlow(ctx context.Context, m *Metadata, o FlowOptions) (*oauth2.Token, error) {
	if m.AuthorizationEndpoint == "" {
		return nil, errors.New("the server offers no browser login: use --device")
	}
	if err := m.checkEndpoints(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // 127.0.0.1, not localhost (RFC 8252 §8.3)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on 127.0.0.1 for the login callback: %w", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://%s/callback", ln.Addr())
	cfg := m.OAuthConfig(o.Scopes, redirect)
	verifier := oauth2.GenerateVerifier()
	state := token.RandomString(32) // about 190 bits
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))

	type result struct {
		code string
		err  error
	}
	results := make(chan result, 1)
	var once sync.Once
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			// not our request (or forged): answer, but keep waiting for ours
			http.Error(w, "state mismatch: this is not the login codesync-cli started", http.StatusBadRequest)
			return
		}
		var res result
		// RFC 9207: a response that names another issuer (or none, when the
		// server says it always does) is not from the server we asked: a
		// mix-up attack; its code is never exchanged
		iss, hasIss := q["iss"]
		switch {
		case (hasIss || m.AuthorizationResponseIssParameterSupported) && (len(iss) != 1 || iss[0] != m.Issuer):
			got := "no iss parameter"
			if len(iss) > 0 {
				got = fmt.Sprintf("the issuer %q", iss[0])
			}
			res.err = &LoginError{Code: "invalid_issuer", Msg: fmt.Sprintf("the authorization response carries %s, not %s: refusing it (it may come from another server)", got, m.Issuer)}
		case q.Get("error") == "access_denied":
			res.err = &LoginError{Code: "access_denied", Msg: "the login was denied in the browser"}
		case q.Get("error") != "":
			res.err = &LoginError{Code: q.Get("error"), Msg: "the server refused the login: " + q.Get("error")}
		case q.Get("code") == "":
			res.err = &LoginError{Code: "invalid_request", Msg: "the callback carried no code"}
		default:
			res.code = q.Get("code")
		}
		accepted := false
		once.Do(func() { accepted = true; results <- res })
		if !accepted {
			http.Error(w, "this login was already completed", http.StatusGone)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		msg := "Logged in. You can close this window and return to your terminal."
		if res.err != nil {
			msg = "Login failed: " + res.err.Error()
		}
		fmt.Fprintf(w, "<!doctype html><title>codesync-cli</title><h1>codesync-cli</h1><p id=\"result\">%s</p>", html.EscapeString(msg))
	})}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(o.Stderr, "Open this URL in a browser to log in:\n\n  %s\n\n", authURL)
	if !o.NoBrowser {
		if err := OpenBrowser(o.Getenv, authURL); err != nil {
			// the error itself ("exit status 3" from xdg-open) tells nobody anything
			fmt.Fprintln(o.Stderr, "(no browser could be opened here: open the URL above in one)")
		}
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	stop := o.spinner("Waiting for the browser login…")
	var res result
	select {
	case res = <-results:
	case <-time.After(timeout):
		res.err = &LoginError{Code: "timeout", Msg: fmt.Sprintf("no browser login within %s", timeout)}
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	stop()
	if res.err != nil {
		return nil, res.err
	}
	t, err := cfg.Exchange(o.ctx(ctx), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, retrieveError(err)
	}
	if err := checkTokenType(t); err != nil {
		return nil, err
	}
	return t, nil
}

func (o *FlowOptions) spinner(msg string) func() {
	if o.Spinner == nil {
		return func() {}
	}
	return o.Spinner(msg)
}

func retrieveError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return &LoginError{Code: re.ErrorCode, Msg: "the server refused the login: " + re.ErrorCode + " " + re.ErrorDescription}
	}
	return err
}

// slowDownWarning: after this many slow_down answers in a row the clock is
// probably off; say so once, and keep polling.
const slowDownWarning = 3

// DeviceFlow runs RFC 8628: it prints the URL and code, then polls a little
// slower than the server asks, adds 5 s on each slow_down (§3.5), keeps
// polling through network errors, and stops at the code's expiry.
func DeviceFlow(ctx context.Context, m *Metadata, o FlowOptions) (*oauth2.Token, error) {
	if m.DeviceAuthorizationEndpoint == "" {
		return nil, errors.New("the server offers no device login: use --web")
	}
	if err := m.checkEndpoints(); err != nil {
		return nil, err
	}
	cfg := m.OAuthConfig(o.Scopes, "")
	start := o.now()
	da, err := cfg.DeviceAuth(o.ctx(ctx))
	if err != nil {
		return nil, retrieveError(err)
	}
	fmt.Fprintf(o.Stderr, "To log in, open %s on any device and enter the code\n\n  %s\n\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(o.Stderr, "(or open %s)\n", da.VerificationURIComplete)
	}
	margin := o.PollMargin
	if margin == 0 {
		margin = time.Second
	}
	interval := time.Duration(da.Interval)*time.Second + margin
	if da.Interval == 0 {
		interval = 5*time.Second + margin
	}
	// the code's lifetime counted on o's clock
	expiry := start.Add(10 * time.Minute)
	if !da.Expiry.IsZero() {
		expiry = start.Add(time.Until(da.Expiry))
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	stop := o.spinner("Waiting for approval…")
	defer stop()
	slowDowns := 0
	netBackoff := time.Duration(0)
	for {
		if err := sleep(ctx, interval+netBackoff); err != nil {
			return nil, err
		}
		if o.now().After(expiry) {
			return nil, &LoginError{Code: "expired_token", Msg: "the code expired before it was approved: run 'codesync-cli login' again"}
		}
		t, code, err := pollOnce(ctx, o.HTTPClient, m.TokenEndpoint, da.DeviceCode)
		switch {
		case err != nil:
			// RFC 8628 §3.5: back off on network errors and keep polling
			netBackoff = min(max(2*netBackoff, time.Second), 30*time.Second)
			continue
		case t != nil:
			if err := checkTokenType(t); err != nil {
				return nil, err
			}
			return t, nil
		}
		netBackoff = 0
		switch code {
		case "authorization_pending":
			slowDowns = 0
		case "slow_down":
			slowDowns++
			interval += 5 * time.Second
			if slowDowns == slowDownWarning {
				fmt.Fprintf(o.Stderr, "warning: the server keeps answering slow_down although polling slowed down (now every %s): this machine's clock probably drifts (common on VMs and WSL); still waiting for the approval\n", interval)
			}
		case "access_denied":
			return nil, &LoginError{Code: code, Msg: "the login was denied on the device page"}
		case "expired_token":
			return nil, &LoginError{Code: code, Msg: "the code expired before it was approved: run 'codesync-cli login' again"}
		default:
			return nil, &LoginError{Code: code, Msg: "the server refused the login: " + code}
		}
	}
}

// pollOnce asks the token endpoint once. It returns a token, or the OAuth
// error code, or a transport error.
func pollOnce(ctx context.Context, hc *http.Client, endpoint, deviceCode string) (*oauth2.Token, string, error) {
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}, "client_id": {ClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	var body struct {
		AccessToken  string      `json:"access_token"`
		TokenType    string      `json:"token_type"`
		RefreshToken string      `json:"refresh_token"`
		ExpiresIn    json.Number `json:"expires_in"`
		Scope        string      `json:"scope"`
		Error        string      `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&body); err != nil {
		return nil, "", fmt.Errorf("malformed token response (%d)", res.StatusCode)
	}
	if res.StatusCode == http.StatusOK && body.AccessToken != "" {
		t := &oauth2.Token{AccessToken: body.AccessToken, RefreshToken: body.RefreshToken, TokenType: body.TokenType}
		// RFC 6749 §5.1: expires_in is optional; without it the expiry is
		// unknown (zero), not "now"
		if secs, err := body.ExpiresIn.Int64(); err == nil && secs > 0 {
			t.Expiry = time.Now().Add(time.Duration(secs) * time.Second)
			t.ExpiresIn = secs
		}
		return t.WithExtra(map[string]any{"scope": body.Scope}), "", nil
	}
	if res.StatusCode >= 500 {
		return nil, "", fmt.Errorf("token endpoint answered %d", res.StatusCode)
	}
	return nil, body.Error, nil
}
