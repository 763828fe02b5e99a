// Package gendocs writes the generated files of the repository: shell
// completions (completions/) and the command reference as man pages
// (docs/man/) and Markdown (docs/reference/), all from the command tree.
// `make generate` runs it; a test fails when the committed files are stale.
package gendocs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
)

// Generate writes everything below root (the repository folder).
func Generate(cmd *cobra.Command, root string) error {
	cmd.DisableAutoGenTag = true // no dates: the output must be reproducible
	comp := filepath.Join(root, "completions")
	man := filepath.Join(root, "docs", "man")
	ref := filepath.Join(root, "docs", "reference")
	for _, d := range []string{comp, man, ref} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	gens := map[string]func(*bytes.Buffer) error{
		"codesync-cli.bash": func(b *bytes.Buffer) error { return cmdutil.GenBashCompletion(cmd, b, true) },
		"codesync-cli.zsh":  func(b *bytes.Buffer) error { return cmd.GenZshCompletion(b) },
		"codesync-cli.fish": func(b *bytes.Buffer) error { return cmd.GenFishCompletion(b, true) },
		"codesync-cli.ps1":  func(b *bytes.Buffer) error { return cmd.GenPowerShellCompletionWithDesc(b) },
	}
	for name, gen := range gens {
		var b bytes.Buffer
		if err := gen(&b); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(comp, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := doc.GenManTree(cmd, &doc.GenManHeader{Title: "CODESYNC-CLI", Section: "1", Source: "codesync-cli", Manual: "CodeSync CLI", Date: &date}, man); err != nil {
		return err
	}
	return doc.GenMarkdownTree(cmd, ref)
}
