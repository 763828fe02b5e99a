// Command codesync-cli is the CodeSync command-line tool.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/codesync/codesync-cli/cmd/root"
	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/build"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/credstore"
	"github.com/codesync/codesync-cli/pkg/factory"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/redact"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ios := iostreams.System()
	f := factory.New(ctx, build.Get().Version, ios, os.Getenv)
	cmd := root.NewCmdRoot(f)
	cmd.SetArgs(os.Args[1:])
	if _, err := cmd.ExecuteContextC(ctx); err != nil {
		p := describe(err)
		if ctx.Err() != nil && p.code != cmdutil.ExitCancelled {
			// Ctrl-C (or SIGTERM) ended whatever was under way
			p = problem{cmdutil.ExitCancelled, "cancelled", "interrupted", ""}
		}
		if p.errCode == "insufficient_scope" {
			if h := scopeHint(f, err); h != "" {
				p.hint = h
			}
		}
		format, _ := cmdutil.OutputFormat(f, "json", "table", "csv", "ndjson")
		printError(ios.ErrOut, p, format == "json")
		return p.code
	}
	return cmdutil.ExitOK
}

// problem is an error as the person sees it.
type problem struct {
	code    int
	errCode string
	msg     string
	hint    string
}

// describe maps every error to its exit code (`help exit-codes`): the one place where
// that happens.
func describe(err error) problem {
	// several failures (key revoke ID…): the worst exit code wins
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) && len(multi.Unwrap()) > 1 {
		worst := problem{}
		for _, e := range multi.Unwrap() {
			if p := describe(e); p.code > worst.code {
				worst = p
			}
		}
		worst.msg, worst.hint = err.Error(), ""
		return worst
	}
	var (
		ee *cmdutil.ExitError
		he *api.HTTPError
		te *api.TransportError
		ie *api.InsecureURLError
		ue *api.URLError
		ke *credstore.UnavailableError
		se *auth.SessionExpiredError
		le *auth.LoginError
		ce *auth.CIError
	)
	switch {
	case errors.As(err, &ee):
		return problem{ee.Code, ee.ErrCode, ee.Error(), ee.Hint}
	case errors.As(err, &he):
		return httpProblem(he)
	case errors.As(err, &te):
		return problem{cmdutil.ExitUnavailable, "unavailable", te.Error(), "check --server, your network, and that the server is running"}
	case errors.As(err, &ie):
		return problem{cmdutil.ExitUsage, "insecure_url", ie.Error(), ""}
	case errors.As(err, &ue):
		return problem{cmdutil.ExitUsage, "invalid_server", ue.Error(), ""}
	case errors.As(err, &ke):
		return problem{cmdutil.ExitAuth, "keyring_unavailable", ke.Error(), ke.Hint()}
	case errors.As(err, &se):
		return problem{cmdutil.ExitAuth, "session_expired", se.Error(), "run 'codesync-cli login' again"}
	case errors.As(err, &ce):
		return problem{cmdutil.ExitAuth, "ci_identity", ce.Error(), "give the job an ID token (GitHub: permissions: id-token: write), or set CODESYNC_AUTH_TOKEN"}
	case errors.As(err, &le):
		return problem{cmdutil.ExitAuth, le.Code, le.Error(), "run 'codesync-cli login' to try again"}
	case errors.Is(err, auth.ErrNotLoggedIn):
		return problem{cmdutil.ExitAuth, "not_authenticated", "you are not logged in", "run 'codesync-cli login' or set CODESYNC_AUTH_TOKEN"}
	case errors.Is(err, iostreams.ErrCancelled):
		return problem{cmdutil.ExitCancelled, "cancelled", "cancelled", ""}
	case errors.Is(err, context.Canceled):
		return problem{cmdutil.ExitCancelled, "cancelled", "interrupted", ""}
	}
	msg := err.Error()
	// cobra's own argument errors are usage errors
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "invalid argument") || strings.HasPrefix(msg, "accepts ") || strings.HasPrefix(msg, "requires ") {
		return problem{cmdutil.ExitUsage, "usage", msg, ""}
	}
	return problem{cmdutil.ExitFailure, "error", msg, ""}
}

func httpProblem(he *api.HTTPError) problem {
	p := problem{code: cmdutil.ExitFailure, errCode: he.Code, msg: he.Error()}
	switch he.Code {
	case "invalid_token":
		p.code, p.hint = cmdutil.ExitAuth, "run 'codesync-cli login', or check CODESYNC_AUTH_TOKEN"
	case "insufficient_scope":
		p.code, p.hint = cmdutil.ExitForbidden, "use a credential with the needed scope"
	case "account_suspended", "ip_not_allowed", "environment_mismatch", "forbidden":
		p.code = cmdutil.ExitForbidden
	case "policy_violation":
		p.code, p.hint = cmdutil.ExitForbidden, "see the organization's policy: 'codesync-cli org policy show SLUG'"
	case "not_found":
		p.code = cmdutil.ExitNotFound
	case "rate_limited":
		p.code, p.hint = cmdutil.ExitRateLimited, "wait a moment and try again"
	case "key_limit_reached":
		p.code, p.hint = cmdutil.ExitConflict, "revoke a key you no longer need: 'codesync-cli key revoke ID'"
	case "already_revoked", "conflict":
		p.code = cmdutil.ExitConflict
	case "invalid_request":
		p.code = cmdutil.ExitUsage
	default:
		switch {
		case he.Status == 401:
			p.code = cmdutil.ExitAuth
		case he.Status == 403:
			p.code = cmdutil.ExitForbidden
		case he.Status == 404:
			p.code = cmdutil.ExitNotFound
		case he.Status == 409:
			p.code = cmdutil.ExitConflict
		case he.Status == 429:
			p.code = cmdutil.ExitRateLimited
		case he.Status >= 500:
			p.code = cmdutil.ExitUnavailable
		}
	}
	return p
}

func printError(w io.Writer, p problem, asJSON bool) {
	msg := redact.String(p.msg)
	line := "error: " + msg
	// the code in brackets, unless it only repeats the message ("cancelled")
	if p.errCode != "" && p.errCode != "error" && p.errCode != "usage" && p.errCode != msg {
		line += " (" + p.errCode + ")"
	}
	fmt.Fprintln(w, line)
	if p.hint != "" {
		fmt.Fprintln(w, "hint: "+p.hint)
	}
	// with -o json the error is also one JSON line, for scripts
	if asJSON {
		b, _ := json.Marshal(struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}{p.errCode, msg})
		fmt.Fprintln(w, string(b))
	}
}

// scopeHint names the exact fix for a missing scope: the command that adds
// it to the login, or the key to create instead.
func scopeHint(f *cmdutil.Factory, err error) string {
	var he *api.HTTPError
	if !errors.As(err, &he) || len(he.Scopes) == 0 {
		return ""
	}
	res, rerr := f.Credentials()
	if rerr != nil {
		return ""
	}
	need := strings.Join(he.Scopes, ",")
	with := func(have []string) string {
		out := slices.Clone(have)
		for _, s := range he.Scopes {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return strings.Join(out, ",")
	}
	if res.EnvToken != "" {
		var have []string
		if c, cerr := f.APIClient(); cerr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if w, werr := c.WhoAmI(ctx); werr == nil {
				have = w.Credential.Scopes
			}
		}
		return fmt.Sprintf("the credential in CODESYNC_AUTH_TOKEN lacks %s: use a key that has it, made from a login that holds it: 'codesync-cli key create NAME --scopes %s'", need, with(have))
	}
	s, lerr := res.Load()
	if lerr != nil {
		return ""
	}
	if s.Type == auth.TypeOAuth {
		return fmt.Sprintf("add it to your login: 'codesync-cli auth refresh --scopes %s' (or log in again: 'codesync-cli login --scopes %s')", need, with(s.Scopes))
	}
	return fmt.Sprintf("the stored %s lacks %s: log in with one that has it ('codesync-cli login --scopes %s')", s.Type, need, with(s.Scopes))
}
