// Package gendocs writes the generated files of the repository: shell
// completions (completions/) and the command reference as man pages
// (docs/man/) and Markdown (docs/reference/), all from the command tree. The
// help topics (`help environment`, `help exit-codes`) become ENVIRONMENT and
// EXIT STATUS sections of every man page and pages of their own in
// docs/reference/.
// `make generate` runs it; a test fails when the committed files are stale.
package gendocs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/codesync/codesync-cli/cmd/root"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
)

// Generate writes everything below dir (the repository folder).
func Generate(cmd *cobra.Command, dir string) error {
	cmd.DisableAutoGenTag = true // no dates: the output must be reproducible
	comp := filepath.Join(dir, "completions")
	man := filepath.Join(dir, "docs", "man")
	ref := filepath.Join(dir, "docs", "reference")
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
	topics := root.HelpTopics()
	if err := addManSections(man, topics); err != nil {
		return err
	}
	if err := doc.GenMarkdownTree(cmd, ref); err != nil {
		return err
	}
	return addTopicPages(cmd, ref, topics)
}

// addManSections puts each topic's section into every man page, before SEE
// ALSO, where man-pages(7) orders EXIT STATUS and ENVIRONMENT.
func addManSections(dir string, topics []root.HelpTopic) error {
	var sec strings.Builder
	// man-pages(7) order: EXIT STATUS before ENVIRONMENT
	for _, name := range []string{"EXIT STATUS", "ENVIRONMENT"} {
		for _, t := range topics {
			if t.Section == name {
				sec.WriteString(manSection(t))
			}
		}
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return err
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(b)
		if i := strings.Index(s, ".SH SEE ALSO"); i >= 0 {
			s = s[:i] + sec.String() + "\n" + s[i:]
		} else {
			s += "\n" + sec.String()
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func manSection(t root.HelpTopic) string {
	var b strings.Builder
	b.WriteString(".SH " + t.Section + "\n.PP\n" + roff(t.Intro) + "\n")
	for _, r := range t.Rows {
		b.WriteString(".TP\n\\fB" + roff(r.Term) + "\\fP\n" + roff(r.Text) + "\n")
	}
	if t.Outro != "" {
		b.WriteString(".PP\n" + roff(t.Outro) + "\n")
	}
	return b.String() + "\n"
}

// roff escapes one line of text for a man page.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// addTopicPages writes docs/reference/codesync-cli_TOPIC.md for each topic
// and lists them on the root page, as cobra lists commands.
func addTopicPages(cmd *cobra.Command, dir string, topics []root.HelpTopic) error {
	rootName := cmd.Name()
	var links strings.Builder
	for _, t := range topics {
		file := rootName + "_" + t.Name + ".md"
		var b strings.Builder
		fmt.Fprintf(&b, "## %s help %s\n\n%s\n\n### Synopsis\n\n%s\n\n", rootName, t.Name, t.Short, t.Intro)
		head := map[string]string{"ENVIRONMENT": "variable", "EXIT STATUS": "exit code"}[t.Section]
		fmt.Fprintf(&b, "| %s | meaning |\n|---|---|\n", head)
		for _, r := range t.Rows {
			var terms []string
			for _, x := range strings.Split(r.Term, ", ") {
				terms = append(terms, "`"+x+"`")
			}
			fmt.Fprintf(&b, "| %s | %s |\n", strings.Join(terms, ", "), strings.ReplaceAll(r.Text, "|", `\|`))
		}
		if t.Outro != "" {
			fmt.Fprintf(&b, "\n%s\n", t.Outro)
		}
		fmt.Fprintf(&b, "\nShown by `%s help %s`; the man pages carry it as %s.\n\n### SEE ALSO\n\n* [%s](%s.md)\t - %s\n",
			rootName, t.Name, t.Section, rootName, rootName, cmd.Short)
		if err := os.WriteFile(filepath.Join(dir, file), []byte(b.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&links, "* [%s help %s](%s)\t - %s\n", rootName, t.Name, file, t.Short)
	}
	rootPage := filepath.Join(dir, rootName+".md")
	b, err := os.ReadFile(rootPage)
	if err != nil {
		return err
	}
	b = append(bytes.TrimRight(b, "\n"), '\n')
	return os.WriteFile(rootPage, append(b, links.String()...), 0o644)
}
