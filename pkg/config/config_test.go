package config

import (
	"os"
	"path/filepath"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	f, _ := Load(filepath.Join(dir, "config.yaml"))
	f.Profile("default").Server = "https://file.example"
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	f, err := Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags Flags
		env   map[string]string
		want  string
		src   Source
	}{
		{Flags{}, nil, "https://file.example", SourceFile},
		{Flags{}, map[string]string{"CODESYNC_SERVER": "https://env.example"}, "https://env.example", SourceEnv},
		{Flags{Server: "https://flag.example"}, map[string]string{"CODESYNC_SERVER": "https://env.example"}, "https://flag.example", SourceFlag},
	} {
		e, err := Resolve(f, c.flags, env(c.env))
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := e.Get("server"); v.Value != c.want || v.Source != c.src {
			t.Errorf("got %+v, want %s from %s", v, c.want, c.src)
		}
	}
	if _, err := Resolve(f, Flags{Profile: "../evil"}, env(nil)); err == nil {
		t.Error("a profile name with a path was accepted")
	}
}

func TestSearchOrder(t *testing.T) {
	p, _ := FindPath("", env(map[string]string{"CODESYNC_CONFIG_DIR": "/a", "XDG_CONFIG_HOME": "/b", "HOME": "/c"}))
	q, _ := FindPath("", env(map[string]string{"XDG_CONFIG_HOME": "/b", "HOME": "/c"}))
	r, _ := FindPath("", env(map[string]string{"HOME": "/c"}))
	s, _ := FindPath("/x.yaml", env(map[string]string{"CODESYNC_CONFIG_DIR": "/a"}))
	if p != "/a/config.yaml" || q != "/b/codesync/config.yaml" || r != "/c/.config/codesync/config.yaml" || s != "/x.yaml" {
		t.Fatal(p, q, r, s)
	}
}

// On Windows the folder is %AppData%\codesync, unless CODESYNC_CONFIG_DIR
// or XDG_CONFIG_HOME says otherwise; elsewhere AppData means nothing.
func TestFindPathWindows(t *testing.T) {
	vars := map[string]string{"AppData": "/appdata", "HOME": "/c"}
	if p, _ := findPath("", env(vars), "windows"); p != filepath.Join("/appdata", "codesync", "config.yaml") {
		t.Errorf("windows: %s", p)
	}
	if p, _ := findPath("", env(vars), "linux"); p != filepath.Join("/c", ".config", "codesync", "config.yaml") {
		t.Errorf("linux: %s", p)
	}
	vars["XDG_CONFIG_HOME"] = "/b"
	if p, _ := findPath("", env(vars), "windows"); p != filepath.Join("/b", "codesync", "config.yaml") {
		t.Errorf("windows with XDG_CONFIG_HOME: %s", p)
	}
	if p, _ := findPath("", env(map[string]string{"HOME": "/c"}), "windows"); p != filepath.Join("/c", ".config", "codesync", "config.yaml") {
		t.Errorf("windows without AppData: %s", p)
	}
}

// FuzzLoad: any config file content loads or fails with an error, never a
// panic, and a loaded one resolves or fails cleanly.
func FuzzLoad(f *testing.F) {
	f.Add("current_profile: default\nprofiles:\n  default:\n    server: https://x\n")
	f.Add("profiles: [1, 2]\n")
	f.Add("profiles:\n  a: null\n")
	f.Add(":\n\t- ]")
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(t.TempDir(), "config.yaml")
		os.WriteFile(p, []byte(content), 0o600)
		c, err := Load(p)
		if err != nil {
			return
		}
		_, _ = Resolve(c, Flags{}, env(nil))
	})
}

// oauth_issuer belongs to the profile, round-trips through the file, and
// takes only an issuer URL.
func TestOAuthIssuer(t *testing.T) {
	dir := t.TempDir()
	f, _ := Load(filepath.Join(dir, "config.yaml"))
	e, err := Resolve(f, Flags{}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if e.OAuthIssuer() != "" {
		t.Fatalf("default %q, want empty (the server itself)", e.OAuthIssuer())
	}
	for _, bad := range []string{"login.example", "ftp://login.example", "https://login.example/?x=1", "https://login.example/#f", "https://u:p@login.example"} {
		if err := e.Set("oauth_issuer", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := e.Set("oauth_issuer", "https://login.example/tenant"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	f, _ = Load(filepath.Join(dir, "config.yaml"))
	e, _ = Resolve(f, Flags{}, env(nil))
	if v, _ := e.Get("oauth_issuer"); v.Value != "https://login.example/tenant" || v.Source != SourceFile {
		t.Fatalf("got %+v", v)
	}
}
