package root

import "github.com/spf13/cobra"

// completionLong is `completion --help`: how to install the script in each
// shell, user-wide without root first. The packages install it already.
const completionLong = `Print the shell completion script for bash, zsh, fish or PowerShell on stdout.
Install it once as below, then start a new shell.

bash (needs the bash-completion package):

  mkdir -p ~/.local/share/bash-completion/completions
  codesync-cli completion bash > ~/.local/share/bash-completion/completions/codesync-cli

  For this shell only: source <(codesync-cli completion bash)

zsh:

  mkdir -p ~/.zfunc
  codesync-cli completion zsh > ~/.zfunc/_codesync-cli
  # in ~/.zshrc, before compinit runs:
  fpath=(~/.zfunc $fpath); autoload -U compinit; compinit

fish:

  mkdir -p ~/.config/fish/completions
  codesync-cli completion fish > ~/.config/fish/completions/codesync-cli.fish

PowerShell:

  codesync-cli completion powershell | Out-String | Invoke-Expression

  Add that line to your profile ($PROFILE) to load it in every session.

The Debian and RPM packages and the Homebrew cask install these scripts at the
standard paths already; the release archives carry them in completions/.
See 'codesync-cli completion SHELL --help' for system-wide paths.`

// withCompletionHelp adds cobra's completion command now rather than at
// Execute, so that its help says how to install the scripts (and the
// generated reference and man pages include it).
func withCompletionHelp(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Long = completionLong
			c.Example = "  $ codesync-cli completion fish > ~/.config/fish/completions/codesync-cli.fish"
		}
	}
}
