package scan

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/codesync/codesync-cli/pkg/factory"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// TestCheckSendsHashesOnly: every byte the CLI sends to a real server during
// `scan --check --revoke` is recorded; the key found is never among them, its
// SHA-256 is.
func TestCheckSendsHashesOnly(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv := server.New(server.Config{Issuer: base}, st)
	_, devTok, err := srv.BootstrapDev(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		sent bytes.Buffer
	)
	h := srv.Handler()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sent.WriteString(r.Method + " " + r.URL.String() + "\n")
		for k, v := range r.Header {
			if k != "Authorization" { // the caller's own credential, not the key found
				sent.WriteString(k + ": " + strings.Join(v, ",") + "\n")
			}
		}
		sent.Write(b)
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		h.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	defer hs.Close()

	// a key of the dev user, leaked into a file
	c := &http.Client{}
	req, _ := http.NewRequest("POST", base+"/v1/keys", strings.NewReader(`{"name":"leaky","scopes":["registry:read"]}`))
	req.Header.Set("Authorization", "Bearer "+devTok)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var k model.KeyWithToken
	if err := json.Unmarshal(body, &k); err != nil || k.Token == "" {
		t.Fatalf("create: %s", body)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "leak.env"), []byte("T="+k.Token+"\n"), 0o600)
	mu.Lock()
	sent.Reset()
	mu.Unlock()

	ios, _, stdout, stderr := iostreams.Test()
	env := map[string]string{"CODESYNC_SERVER": base, "CODESYNC_AUTH_TOKEN": devTok, "CODESYNC_CONFIG_DIR": t.TempDir()}
	f := factory.New(context.Background(), "test", ios, func(k string) string { return env[k] })
	cmd := NewCmdScan(f, nil)
	cmd.SetArgs([]string{"--check", "--revoke", "--yes", dir})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err = cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "found 1 CodeSync API key") {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout.String(), "revoked now") {
		t.Fatalf("stdout: %s", stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	all := sent.String()
	if !strings.Contains(all, "POST /v1/keys/check") || !strings.Contains(all, "DELETE /v1/keys/"+k.ID) {
		t.Fatalf("requests: %s", all)
	}
	if !strings.Contains(all, hex.EncodeToString(token.Hash(k.Token))) {
		t.Fatalf("the hash was not sent: %s", all)
	}
	// not the key, not even the random part after the prefix
	if strings.Contains(all, k.Token[len(token.Prefix(k.Token)):]) {
		t.Fatalf("the key left the machine: %s", all)
	}
	if strings.Contains(stdout.String()+stderr.String(), k.Token) {
		t.Fatal("the key was printed")
	}
}
