package scan

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codesync/codesync-cli/pkg/token"
)

func digest(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func tarOf(t *testing.T, files ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		addTar(t, tw, files[i], files[i+1])
	}
	tw.Close()
	return buf.Bytes()
}

// dockerSave writes what `docker save` (Docker 25+, OCI layout inside) makes
// of an image with two layers, the second gzip-compressed as registries
// serve them, and returns the digests.
func dockerSave(t *testing.T, path string, envTok, layer1Tok, layer2Tok string) (cfg, l1, l2 string) {
	layer1 := tarOf(t, "etc/os-release", "NAME=test\n", "etc/app/app.env", "MODE=prod\nCODESYNC_AUTH_TOKEN="+layer1Tok+"\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarOf(t, "usr/src/app/.npmrc", "registry=https://npm.codesync.de\n//npm.codesync.de/:_authToken="+layer2Tok+"\n"))
	zw.Close()
	layer2 := gz.Bytes()
	config := []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin","CODESYNC_AUTH_TOKEN=` + envTok + `"]},"rootfs":{"type":"layers","diff_ids":[]}}`)
	cfg, l1, l2 = digest(config), digest(layer1), digest(layer2)
	manifest := fmt.Sprintf(`[{"Config":"blobs/sha256/%s","RepoTags":["app:latest"],"Layers":["blobs/sha256/%s","blobs/sha256/%s"]}]`, cfg, l1, l2)
	img := tarOf(t,
		"blobs/sha256/"+cfg, string(config),
		"blobs/sha256/"+l1, string(layer1),
		"blobs/sha256/"+l2, string(layer2),
		"oci-layout", `{"imageLayoutVersion":"1.0.0"}`,
		"index.json", `{"schemaVersion":2,"manifests":[]}`,
		"manifest.json", manifest,
	)
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return
}

func TestImageEveryLayer(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "app.tar")
	envTok, t1, t2 := token.New("prod"), token.New("prod"), token.New("dev")
	cfg, l1, l2 := dockerSave(t, img, envTok, t1, t2)
	s := New(Options{Warn: func(m string) { t.Errorf("warning: %s", m) }})
	if err := s.ScanImage(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range s.Findings() {
		got[f.Path] = f.SHA256
	}
	want := map[string]string{
		img + "!blobs/sha256/" + cfg:                        sha(envTok),
		img + "!blobs/sha256/" + l1 + "!etc/app/app.env":    sha(t1),
		img + "!blobs/sha256/" + l2 + "!usr/src/app/.npmrc": sha(t2),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}

	// the same image piped through gzip (docker save | gzip)
	raw, _ := os.ReadFile(img)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzPath := filepath.Join(dir, "app.tar.gz")
	os.WriteFile(gzPath, gz.Bytes(), 0o644)
	s = New(Options{})
	if err := s.ScanImage(context.Background(), gzPath); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Findings()); n != 3 {
		t.Fatalf("gzip image: %d findings", n)
	}
}

func TestImageOCILayoutFolder(t *testing.T) {
	dir := t.TempDir()
	tok := token.New("prod")
	layer := tarOf(t, "app/secret.txt", tok)
	write(t, filepath.Join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
	write(t, filepath.Join(dir, "blobs/sha256", digest(layer)), string(layer))
	s := New(Options{})
	if err := s.ScanImage(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got := s.Findings(); len(got) != 1 || !strings.HasSuffix(got[0].Path, digest(layer)+"!app/secret.txt") {
		t.Fatalf("got %v", got)
	}
}

func TestImageRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.tar")
	os.WriteFile(plain, tarOf(t, "a.txt", "hello"), 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	for _, p := range []string{plain, text, dir} {
		err := New(Options{}).ScanImage(context.Background(), p)
		if !errors.Is(err, ErrNotImage) {
			t.Errorf("%s: got %v", p, err)
		}
	}
}
