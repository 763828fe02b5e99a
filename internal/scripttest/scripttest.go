// Package scripttest sets up the testscript sessions of the CLI: a clean
// environment per script, a real server per script, and a check at the end of
// every script that no full token leaked into stderr or the server's log.
package scripttest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/time/rate"

	"github.com/codesync/codesync-cli/pkg/jobs"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// Transcript file names in $WORK: every invocation of the CLI appends its
// stdout and stderr there (see Tee).
const (
	stdoutLog = ".transcript.stdout"
	stderrLog = ".transcript.stderr"
	serverLog = ".server.log"
)

var tokenRE = regexp.MustCompile(`csy_(?:prod|dev)_[0-9A-Za-z]{36}`)

// debugLog is where CODESYNC_DEBUG_LOG sends the HTTP trace in a traced run.
const debugLog = ".debug.log"

// Params returns the testscript parameters for the scripts in dir. With
// traced, every command also writes its --debug trace to $WORK/.debug.log,
// which the leak check reads too.
func Params(t *testing.T, dir string, traced bool) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Each script gets its own config folder and no keyring: nothing of
			// the developer's machine leaks in, and no keyring is touched.
			for k, v := range map[string]string{
				"CODESYNC_CONFIG_DIR": env.WorkDir + "/.codesync", "HOME": env.WorkDir + "/home",
				"XDG_CONFIG_HOME": "", "DBUS_SESSION_BUS_ADDRESS": "", "XDG_RUNTIME_DIR": "",
				"CODESYNC_SERVER": "", "CODESYNC_AUTH_TOKEN": "", "CODESYNC_PROFILE": "", "CODESYNC_KEYRING": "",
				"NO_COLOR": "", "CODESYNC_FORCE_TTY": "",
				"CODESYNC_TEST_TRANSCRIPT": env.WorkDir,
				"CODESYNC_DEBUG_LOG":       "",
			} {
				env.Setenv(k, v)
			}
			if traced {
				env.Setenv("CODESYNC_DEBUG_LOG", filepath.Join(env.WorkDir, debugLog))
			}
			env.Defer(func() { checkLeaks(env.T(), env.WorkDir) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"serve":    serve,
			"genrsa":   genrsa,
			"mkuser":   mkuser,
			"httpreq":  httpreq,
			"hookrecv": hookrecv,
		},
	}
}

// serve starts a real server on 127.0.0.1 with a SQLite file in $WORK and
// exports SERVER_URL, DEV_TOKEN, DEV_PASSWORD and CODESYNC_SERVER. Options:
// -sandbox, -rate-dev N (per second), -rate-prod N, -name NAME (env prefix),
// -webhooks (notices and webhooks on).
func serve(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! serve")
	}
	cfg := server.Config{}
	prefix := ""
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-sandbox":
			cfg.Environment = model.EnvSandbox
		case "-rate-dev", "-rate-prod", "-failed-login-threshold":
			i++
			var v float64
			fmt.Sscan(args[i], &v)
			switch args[i-1] {
			case "-rate-dev":
				cfg.DevRate = rate.Limit(v)
			case "-rate-prod":
				cfg.ProdRate = rate.Limit(v)
			default:
				cfg.FailedLoginThreshold = int(v)
			}
		case "-name":
			i++
			prefix = args[i] + "_"
		case "-webhooks":
			// expiry notices and webhooks on, dispatching and retrying fast
			cfg.Notifications = &server.Notifications{ServerSecret: []byte(strings.Repeat("s", 32)), DispatchInterval: 50 * time.Millisecond,
				Jobs: jobs.Config{PollInterval: 50 * time.Millisecond, Backoff: func(int) time.Duration { return 100 * time.Millisecond }}}
		default:
			ts.Fatalf("serve: unknown option %s", args[i])
		}
	}
	work := ts.Getenv("WORK")
	st, err := store.Open(filepath.Join(work, prefix+"server.sqlite"))
	ts.Check(err)
	logf, err := os.OpenFile(filepath.Join(work, serverLog), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	ts.Check(err)
	cfg.Logger = slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	url := "http://" + ln.Addr().String()
	cfg.Issuer = url
	srv := server.New(cfg, st)
	pw, tok, err := srv.BootstrapDev(context.Background())
	ts.Check(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(ctx, ln, nil)
		close(done)
	}()
	ts.Defer(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		st.Close()
		logf.Close()
	})
	ts.Setenv(prefix+"SERVER_URL", url)
	ts.Setenv(prefix+"DEV_TOKEN", tok)
	ts.Setenv(prefix+"DEV_PASSWORD", pw)
	if prefix == "" {
		ts.Setenv("CODESYNC_SERVER", url)
	}
	// remember the token and password so the leak check knows them
	appendFile(filepath.Join(work, stdoutLog), tok+"\n")
	appendFile(filepath.Join(work, ".dev_password"), pw)
}

func appendFile(path, s string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.WriteString(f, s)
}

// checkLeaks fails the script if a secret appears where it must not: a token
// that was ever shown on stdout (where key create, rotate and auth token print
// it once), the dev password, an OAuth token or a private key, in stderr, the
// server's log or the debug trace. It also checks the modes of the config
// folder and the files in it.
func checkLeaks(t testscript.T, work string) {
	out, _ := os.ReadFile(filepath.Join(work, stdoutLog))
	secrets := tokenRE.FindAllString(string(out), -1)
	secrets = append(secrets, oauthRE.FindAllString(string(out), -1)...)
	if pw, err := os.ReadFile(filepath.Join(work, ".dev_password")); err == nil {
		secrets = append(secrets, strings.TrimSpace(string(pw)))
	}
	for _, name := range []string{stderrLog, serverLog, debugLog} {
		b, _ := os.ReadFile(filepath.Join(work, name))
		for _, s := range secrets {
			if s != "" && strings.Contains(string(b), s) {
				t.Fatal(fmt.Sprintf("secret %s… leaked into %s", s[:min(8, len(s))], name))
			}
		}
		if strings.Contains(string(b), "PRIVATE KEY-----") {
			t.Fatal("a private key leaked into " + name)
		}
	}
	dir := filepath.Join(work, ".codesync")
	if fi, err := os.Stat(dir); err == nil {
		if fi.Mode().Perm() != 0o700 {
			t.Fatal(fmt.Sprintf("%s has mode %v, want 0700", dir, fi.Mode().Perm()))
		}
		for _, name := range []string{"config.yaml", "credentials.json"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().Perm() != 0o600 {
				t.Fatal(fmt.Sprintf("%s has mode %v, want 0600", name, fi.Mode().Perm()))
			}
		}
	}
}

var oauthRE = regexp.MustCompile(`cs[ar]_[0-9A-Za-z]{40}`)

// Tee is called by the test binary's codesync-cli command: when a transcript
// folder is set, it copies the process's stdout and stderr there as well.
// It returns a function that flushes the copies.
func Tee() func() {
	dir := os.Getenv("CODESYNC_TEST_TRANSCRIPT")
	if dir == "" {
		return func() {}
	}
	var waits []chan struct{}
	tee := func(orig **os.File, name string) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return
		}
		r, w, err := os.Pipe()
		if err != nil {
			return
		}
		real := *orig
		*orig = w
		done := make(chan struct{})
		waits = append(waits, done)
		go func() {
			io.Copy(io.MultiWriter(real, f), r)
			f.Close()
			close(done)
		}()
	}
	tee(&os.Stdout, stdoutLog)
	tee(&os.Stderr, stderrLog)
	outW, errW := os.Stdout, os.Stderr
	return func() {
		outW.Close()
		errW.Close()
		for _, d := range waits {
			<-d
		}
	}
}

// genrsa BITS PRIVATE PUBLIC [pkcs1|pkcs8] writes a fresh RSA key pair as PEM.
func genrsa(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: genrsa BITS PRIVATE PUBLIC [pkcs1|pkcs8]")
	}
	var bits int
	fmt.Sscan(args[0], &bits)
	k, err := rsa.GenerateKey(rand.Reader, bits)
	ts.Check(err)
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if len(args) > 3 && args[3] == "pkcs8" {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		ts.Check(err)
		priv = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), priv, 0o600))
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))
}

// mkuser NAME SCOPES adds a user to the script's server (started by serve)
// with one API key of those comma-separated scopes, and exports NAME_TOKEN
// (NAME upper-cased). It writes to the server's SQLite file directly, as
// `server user add` does.
func mkuser(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkuser NAME SCOPES")
	}
	st, err := store.Open(filepath.Join(ts.Getenv("WORK"), "server.sqlite"))
	ts.Check(err)
	defer st.Close()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	u, err := st.CreateUser(ctx, args[0], server.HashPassword(token.RandomString(24)), now)
	ts.Check(err)
	scopes, err := keyrules.ParseScopes(args[1])
	ts.Check(err)
	tok := token.New("prod")
	k := &store.KeyRecord{ID: "key_" + token.RandomString(16), UserID: u.ID, Name: args[0] + "-bootstrap", Prefix: token.Prefix(tok),
		TokenHash: token.Hash(tok), Environment: model.EnvProduction, Scopes: scopes, CIDRs: []string{}, Namespaces: []string{},
		CreatedAt: now, ExpiresAt: now.Add(keyrules.DefExpiry)}
	ts.Check(st.CreateKey(ctx, k, keyrules.MaxActive, &store.Event{UserID: &u.ID, Type: model.EventTokenCreated, Time: now, Actor: "test", KeyID: &k.ID, Detail: "mkuser"}))
	ts.Setenv(strings.ToUpper(args[0])+"_TOKEN", tok)
	appendFile(filepath.Join(ts.Getenv("WORK"), stdoutLog), tok+"\n")
}

// httpreq METHOD PATH [BODY] sends one request to the script's server with
// $CODESYNC_AUTH_TOKEN, for endpoints no command wraps (the registry), and
// writes "status N" and the body to stdout.
func httpreq(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: httpreq METHOD PATH [BODY]")
	}
	var body io.Reader
	if len(args) == 3 {
		body = strings.NewReader(args[2])
	}
	req, err := http.NewRequest(args[0], ts.Getenv("SERVER_URL")+args[1], body)
	ts.Check(err)
	req.Header.Set("Authorization", "Bearer "+ts.Getenv("CODESYNC_AUTH_TOKEN"))
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "status %d\n%s", resp.StatusCode, b)
	if failed := resp.StatusCode >= 400; failed != neg {
		ts.Fatalf("status %d", resp.StatusCode)
	}
}

// hookrecv starts a loopback webhook receiver that answers 204 and exports
// HOOK_URL.
func hookrecv(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! hookrecv")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = hs.Serve(ln) }()
	ts.Defer(func() { _ = hs.Close() })
	ts.Setenv("HOOK_URL", "http://"+ln.Addr().String()+"/hook")
}
