package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/codesync/codesync-cli/pkg/model"
)

// TestLeakedKeyEndToEnd: the real binary as server (with
// --secret-scanning-keys) and as CLI. A key created, leaked into a nested
// file, found by scan; a signed secret-scanning report revokes it at once and
// records where it was found; scan --check then sees it revoked; a tampered
// report is refused and counted in health.
func TestLeakedKeyEndToEnd(t *testing.T) {
	dir := t.TempDir()
	gh, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&gh.PublicKey)
	keys := filepath.Join(dir, "github-keys.pem")
	os.WriteFile(keys, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Key-Identifier": "gh-test-1"}, Bytes: der}), 0o644)

	// a file that is not a key: usage error before anything starts
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o644)
	if _, stderr, code := runCLI(t, nil, "", "server", "--dev", "--addr", "127.0.0.1:0", "--secret-scanning-keys", bad); code != 2 || !strings.Contains(stderr, "no public key found") {
		t.Fatalf("bad keys file: exit %d, %s", code, stderr)
	}

	srv := cli(t, []string{"CODESYNC_CONFIG_DIR=" + t.TempDir()}, "server", "--dev", "--addr", "127.0.0.1:0", "--secret-scanning-keys", keys)
	out, _ := srv.StdoutPipe()
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() })
	vars := map[string]string{}
	sc := bufio.NewScanner(out)
	for len(vars) < 4 && sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			vars[k] = v
		}
	}
	go io.Copy(io.Discard, out)
	env := []string{"CODESYNC_SERVER=" + vars["CODESYNC_SERVER"], "CODESYNC_AUTH_TOKEN=" + vars["CODESYNC_AUTH_TOKEN"], "CODESYNC_CONFIG_DIR=" + t.TempDir()}

	stdout, stderr, code := runCLI(t, env, "", "key", "create", "leaky", "--scopes", "registry:read", "-o", "json")
	if code != 0 {
		t.Fatalf("key create: %d %s", code, stderr)
	}
	var k model.KeyWithToken
	json.Unmarshal([]byte(stdout), &k)
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(filepath.Join(repo, "services/api/config"), 0o755)
	os.WriteFile(filepath.Join(repo, "services/api/config/prod.env"), []byte("REGION=eu\nCODESYNC_AUTH_TOKEN="+k.Token+"\n"), 0o644)

	check := func() []map[string]any {
		t.Helper()
		stdout, stderr, code := runCLI(t, env, "", "scan", "--check", "-o", "json", repo)
		if code != 1 || strings.Contains(stdout+stderr, k.Token) {
			t.Fatalf("scan --check: exit %d\n%s\n%s", code, stdout, stderr)
		}
		var res []map[string]any
		json.Unmarshal([]byte(stdout), &res)
		if len(res) != 1 || res[0]["line"] != 2.0 || res[0]["key_id"] != k.ID {
			t.Fatalf("scan --check: %s", stdout)
		}
		return res
	}
	if st := check()[0]["status"]; st != "active" {
		t.Fatalf("before the report: %v", st)
	}

	report := func(body []byte, sig []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", vars["CODESYNC_SERVER"]+"/v1/secret-scanning/report", bytes.NewReader(body))
		req.Header.Set("GITHUB-PUBLIC-KEY-IDENTIFIER", "gh-test-1")
		req.Header.Set("GITHUB-PUBLIC-KEY-SIGNATURE", base64.StdEncoding.EncodeToString(sig))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	url := "https://github.com/acme/api/blob/main/services/api/config/prod.env"
	body, _ := json.Marshal([]model.SecretScanningReport{{Token: k.Token, Type: "codesync_api_key", URL: url, Source: "content"}})
	digest := sha256.Sum256(body)
	sig, _ := ecdsa.SignASN1(rand.Reader, gh, digest[:])

	// tampered: refused, counted, nothing revoked
	if status, b := report(bytes.Replace(body, []byte("acme"), []byte("acmf"), 1), sig); status != 403 || !strings.Contains(b, "invalid_signature") {
		t.Fatalf("tampered report: %d %s", status, b)
	}
	stdout, _, _ = runCLI(t, env, "", "health", "-o", "json")
	if !strings.Contains(stdout, `"secret_scanning_refused_last_hour":1`) {
		t.Fatalf("health: %s", stdout)
	}
	if st := check()[0]["status"]; st != "active" {
		t.Fatalf("after a tampered report: %v", st)
	}

	// signed: revoked at once
	if status, b := report(body, sig); status != 200 || !strings.Contains(b, `"label":"true_positive"`) || strings.Contains(b, k.Token) {
		t.Fatalf("report: %d %s", status, b)
	}
	if st := check()[0]["status"]; st != "revoked" {
		t.Fatalf("after the report: %v", st)
	}
	stdout, _, code = runCLI(t, env, "", "audit", "events", "--type", "token:leaked", "-o", "json")
	if code != 0 || !strings.Contains(stdout, url) || !strings.Contains(stdout, k.ID) {
		t.Fatalf("audit events: %d %s", code, stdout)
	}
	// the leaked key itself no longer works
	if _, _, code := runCLI(t, []string{"CODESYNC_SERVER=" + vars["CODESYNC_SERVER"], "CODESYNC_AUTH_TOKEN=" + k.Token, "CODESYNC_CONFIG_DIR=" + t.TempDir()}, "", "auth", "status"); code != 4 {
		t.Fatalf("the leaked key still works: exit %d", code)
	}
}
