package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codesync/codesync-cli/pkg/server"
)

func chromiumPath() string {
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// TestWebLoginInChromium drives `login --web` end to end: the CLI opens the
// URL through CODESYNC_BROWSER (a script that hands it to this test), real
// headless Chromium signs in on the server's page and follows the redirect to
// the CLI's loopback callback.
func TestWebLoginInChromium(t *testing.T) {
	chrome := chromiumPath()
	if chrome == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Chromium in CI: .ci/run must install it")
		}
		t.Skip("no Chromium binary (apt-get install chromium)")
	}
	ts := startServer(t, server.Config{})
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "url")
	opener := filepath.Join(dir, "open-browser")
	os.WriteFile(opener, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+urlFile+".tmp && mv "+urlFile+".tmp "+urlFile+"\n"), 0o700)
	env := []string{"CODESYNC_SERVER=" + ts.URL, "CODESYNC_CONFIG_DIR=" + t.TempDir(), "CODESYNC_KEYRING=file", "CODESYNC_BROWSER=" + opener}
	cmd := cli(t, env, "login", "--web")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var authURL string
	for i := 0; i < 200 && authURL == ""; i++ {
		b, _ := os.ReadFile(urlFile)
		authURL = string(b)
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(authURL, ts.URL+"/oauth/authorize?") || !strings.Contains(authURL, "code_challenge_method=S256") {
		t.Fatalf("authorize URL %q", authURL)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	var scopes, result string
	err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible("#username"),
		chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			var err error
			scopes, err = chromedp.Text(".scopes")(ctx, tg)
			return chromedp.Void{}, err
		}),
		chromedp.SendKeys("#username", "dev"),
		chromedp.SendKeys("#password", ts.Password),
		chromedp.Click("#approve"),
		chromedp.WaitVisible("#result"),
	)
	if err == nil {
		result, err = chromedp.Run(ctx, chromedp.Text("#result"))
	}
	if err != nil {
		t.Fatalf("chromium: %v\nCLI stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(scopes, "keys:read") {
		t.Errorf("the consent page does not show the scopes: %q", scopes)
	}
	if !strings.Contains(result, "Logged in") {
		t.Fatalf("callback page: %q", result)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login --web: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("login --web did not finish")
	}
	if !strings.Contains(stderr.String(), "Open this URL in a browser") || !strings.Contains(stderr.String(), "Logged in to "+ts.URL+" as dev (oauth") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	out, _, ex := runCLI(t, env, "", "auth", "status", "-o", "json")
	if ex != 0 || !strings.Contains(out, `"token_type":"oauth"`) {
		t.Fatalf("auth status: %d %s", ex, out)
	}
}
