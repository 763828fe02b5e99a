package trustedpublisher

import (
	"context"
	"errors"
	"testing"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/factory"
	"github.com/codesync/codesync-cli/pkg/iostreams"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

func testFactory(t *testing.T) *cmdutil.Factory {
	ios, _, _, _ := iostreams.Test()
	dir := t.TempDir()
	return factory.New(context.Background(), "test", ios, func(k string) string {
		if k == "CODESYNC_CONFIG_DIR" {
			return dir
		}
		return ""
	})
}

func TestAddParsesFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want trustedpub.Flags // Namespace, GitHub, Workflow, GitLab, Issuer, Claims, Environment, Ref
		err  bool
	}{
		{"github", []string{"@acme", "--github", "acme/widgets", "--workflow", "release.yml", "--environment", "release", "--ref", "refs/tags/v1"},
			trustedpub.Flags{Namespace: "@acme", GitHub: "acme/widgets", Workflow: "release.yml", Environment: "release", Ref: "refs/tags/v1"}, false},
		{"gitlab package", []string{"@acme/widgets", "--gitlab", "acme/sub/widgets"},
			trustedpub.Flags{Namespace: "@acme/widgets", GitLab: "acme/sub/widgets"}, false},
		{"generic", []string{"@acme", "--issuer", "https://ci.example.com", "--claim", "sub=a:b", "--claim", "team=release"},
			trustedpub.Flags{Namespace: "@acme", Issuer: "https://ci.example.com", Claims: []string{"sub=a:b", "team=release"}}, false},
		{"github without workflow", []string{"@acme", "--github", "acme/widgets"}, trustedpub.Flags{}, true},
		{"no identity", []string{"@acme"}, trustedpub.Flags{}, true},
		{"both providers", []string{"@acme", "--github", "a/b", "--workflow", "r.yml", "--gitlab", "a/b"}, trustedpub.Flags{}, true},
		{"bad namespace", []string{"acme", "--gitlab", "a/b"}, trustedpub.Flags{}, true},
		{"http issuer", []string{"@acme", "--issuer", "http://ci.example.com", "--claim", "sub=x"}, trustedpub.Flags{}, true},
		{"bad claim", []string{"@acme", "--issuer", "https://ci.example.com", "--claim", "sub"}, trustedpub.Flags{}, true},
		{"two namespaces", []string{"@acme", "@other", "--gitlab", "a/b"}, trustedpub.Flags{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *AddOptions
			cmd := NewCmdAdd(testFactory(t), func(o *AddOptions) error { got = o; return nil })
			cmd.SetArgs(tc.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
			if tc.err {
				if err == nil {
					t.Fatalf("no error for %v", tc.args)
				}
				var ee *cmdutil.ExitError
				if !errors.As(err, &ee) && got != nil {
					t.Fatalf("%v reached runF", tc.args)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("%v: %v", tc.args, err)
			}
			w, g := tc.want, got.Flags
			if g.Namespace != w.Namespace || g.GitHub != w.GitHub || g.Workflow != w.Workflow || g.GitLab != w.GitLab || g.Issuer != w.Issuer ||
				g.Environment != w.Environment || g.Ref != w.Ref || len(g.Claims) != len(w.Claims) {
				t.Fatalf("flags %+v, want %+v", g, w)
			}
		})
	}
}

func TestRemoveAndListParse(t *testing.T) {
	var rm *RemoveOptions
	cmd := NewCmdRemove(testFactory(t), func(o *RemoveOptions) error { rm = o; return nil })
	cmd.SetArgs([]string{"tp_abc123"})
	if err := cmd.Execute(); err != nil || rm == nil || rm.ID != "tp_abc123" {
		t.Fatalf("remove: %v %+v", err, rm)
	}
	cmd = NewCmdRemove(testFactory(t), func(o *RemoveOptions) error { t.Fatal("runF reached"); return nil })
	cmd.SetArgs([]string{"key_123"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	var ee *cmdutil.ExitError
	if err := cmd.Execute(); !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage {
		t.Fatalf("remove key_123: %v", err)
	}
	var ls *ListOptions
	cmd = NewCmdList(testFactory(t), func(o *ListOptions) error { ls = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil || ls == nil || ls.Format != "table" {
		t.Fatalf("list: %v %+v", err, ls)
	}
}
