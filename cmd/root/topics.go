package root

import (
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// HelpTopic is a page of `codesync-cli help NAME` that is not a command. The
// same text is rendered for the terminal (the topic's help), for the man
// pages (ENVIRONMENT and EXIT STATUS sections) and for docs/reference/, so
// the three never disagree.
type HelpTopic struct {
	Name    string // `help NAME`
	Short   string
	Section string // its man page section: ENVIRONMENT, EXIT STATUS
	Intro   string
	Rows    []TopicRow
	Outro   string
}

// TopicRow is one term (a variable, an exit code) and what it means.
type TopicRow struct {
	Term string
	Text string
}

// HelpTopics returns the additional help topics, in display order.
func HelpTopics() []HelpTopic {
	return []HelpTopic{
		{
			Name:    "environment",
			Short:   "Environment variables that codesync-cli reads",
			Section: "ENVIRONMENT",
			Intro: "codesync-cli reads these environment variables. Precedence, highest first: " +
				"flag > environment variable > config file > default ('codesync-cli config list' " +
				"shows which one won).",
			Rows: []TopicRow{
				{"CODESYNC_AUTH_TOKEN", "The credential to use: an API key (csy_prod_…, csy_dev_…), an OAuth access token or a JWT. " +
					"It beats any stored login, skips the keyring entirely and is never written anywhere. " +
					"This is how CI pipelines authenticate."},
				{"CODESYNC_ID_TOKEN", "Trusted publishing: an OpenID Connect ID token of the CI job (GitLab CI's id_tokens:), " +
					"exchanged at the server for a token that lives minutes when CODESYNC_AUTH_TOKEN is unset. " +
					"Nothing is stored. See docs/trusted-publishing.md."},
				{"ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN", "Trusted publishing on GitHub Actions " +
					"(set by GitHub for jobs with 'permissions: id-token: write'): the CLI asks for an ID token with audience " +
					"codesync (or CODESYNC_OIDC_AUDIENCE) and exchanges it as for CODESYNC_ID_TOKEN."},
				{"CODESYNC_OIDC_AUDIENCE", "Trusted publishing on GitHub Actions: the audience of the ID token the CLI asks for " +
					"(default codesync); it must equal the server's --oidc-audience."},
				{"CODESYNC_SERVER", "API base URL (default https://api.codesync.de); --server beats it. " +
					"Credentials are only sent over https://, or http:// to a loopback address."},
				{"CODESYNC_PROFILE", "Configuration profile (default \"default\"); --profile beats it."},
				{"CODESYNC_CONFIG_DIR", "Folder of config.yaml, credentials.json and lock files " +
					"(default $XDG_CONFIG_HOME/codesync, else ~/.config/codesync); --config names the config file itself."},
				{"CODESYNC_KEYRING", "Where a login is stored: system (the OS keyring, default) or file " +
					"(credentials.json, mode 0600, in the config folder; for headless machines without a keyring)."},
				{"CODESYNC_KEYRING_TIMEOUT", "Bound on each keyring call, a Go duration such as 5s " +
					"(default 30s on a terminal, 3s otherwise)."},
				{"CODESYNC_BROWSER, BROWSER", "Command that opens the sign-in page of 'login --web', in this order; " +
					"else the platform's default browser. Setting either also makes 'login' choose the browser flow."},
				{"CODESYNC_DEBUG_LOG", "File to which the --debug HTTP trace (secrets redacted) is appended, mode 0600, " +
					"without printing it to stderr."},
				{"CODESYNC_FORCE_TTY", "When non-empty, stdin, stdout and stderr count as terminals (prompts, colour, tables); " +
					"for testing interactive behaviour."},
				{"CODESYNC_SMTP_PASSWORD", "'codesync-cli server --smtp-url smtp://user@host:port': the SMTP password " +
					"for expiry notices (never in the URL or a flag, which show in process lists)."},
				{"NO_COLOR", "When non-empty, no colour, ever (as --no-color)."},
				{"XDG_CONFIG_HOME, HOME", "Where the config folder is when CODESYNC_CONFIG_DIR is not set."},
				{"DISPLAY, WAYLAND_DISPLAY, SSH_CONNECTION, SSH_CLIENT, SSH_TTY", "'login' without --web or --device " +
					"opens a browser only in a desktop session that is not over SSH; otherwise it uses the device flow."},
				{"DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR", "On Linux the OS keyring needs a D-Bus session bus; " +
					"without one the keyring counts as unavailable (use CODESYNC_KEYRING=file or CODESYNC_AUTH_TOKEN)."},
			},
			Outro: "'codesync-cli server --dev' prints shell lines that export CODESYNC_SERVER, CODESYNC_DEV_USER, " +
				"CODESYNC_DEV_PASSWORD and CODESYNC_AUTH_TOKEN, for a shell to source (see the README's Quickstart).",
		},
		{
			Name:    "exit-codes",
			Short:   "Exit codes of codesync-cli and what each one means",
			Section: "EXIT STATUS",
			Intro: "Every command exits with one of these codes; scripts can rely on them. " +
				"Errors go to stderr as one line, with the server's error code in parentheses and often a hint; " +
				"with -o json the error is also printed to stderr as {\"error\": CODE, \"message\": TEXT}.",
			Rows: []TopicRow{
				{"0", "Success."},
				{"1", "Any other error, including 'health' reporting degraded."},
				{"2", "Usage error (invalid_request): a bad flag or argument, an invalid scope, CIDR or duration, " +
					"or a prompt needed without a terminal."},
				{"3", "Cancelled by the user at a prompt, or interrupted (Ctrl-C)."},
				{"4", "Not authenticated: no credential, an unknown, expired or revoked credential (invalid_token), " +
					"a session that cannot be refreshed, a denied or expired login, or no usable keyring."},
				{"5", "Forbidden: insufficient_scope, account_suspended, ip_not_allowed, environment_mismatch."},
				{"6", "Not found (not_found): no such key, or not yours."},
				{"7", "Rate limited (rate_limited) after the retries ran out."},
				{"8", "Conflict or limit: key_limit_reached, already_revoked."},
				{"9", "Server unreachable, timed out, or answered 5xx after the retries."},
			},
			Outro: "'codesync-cli key revoke ID…' with several failures exits with the highest of their codes.",
		},
	}
}

// newCmdHelpTopic is a help topic: a command without Run, listed under
// "Additional help topics" and shown by `codesync-cli help NAME`.
func newCmdHelpTopic(t HelpTopic) *cobra.Command {
	cmd := &cobra.Command{
		Use:   t.Name,
		Short: t.Short,
		Long:  t.Text(80),
	}
	// the topic's text alone: no usage or flags below it
	cmd.SetHelpTemplate("{{.Long}}\n")
	return cmd
}

// Text renders the topic for a terminal of the given width: short terms
// (exit codes) in a column beside their text, long ones (variables) on a line
// of their own above it.
func (t HelpTopic) Text(width int) string {
	var b strings.Builder
	b.WriteString(wrap(t.Intro, width, ""))
	col := 0
	for _, r := range t.Rows {
		col = max(col, utf8.RuneCountInString(r.Term))
	}
	for i, r := range t.Rows {
		if col <= 4 {
			if i == 0 {
				b.WriteString("\n")
			}
			indent := strings.Repeat(" ", col+4)
			text := wrap(r.Text, width, indent)
			b.WriteString("  " + r.Term + strings.Repeat(" ", col-utf8.RuneCountInString(r.Term)+2) + text[len(indent):])
			continue
		}
		b.WriteString("\n  " + r.Term + "\n")
		b.WriteString(wrap(r.Text, width, "      "))
	}
	if t.Outro != "" {
		b.WriteString("\n" + wrap(t.Outro, width, ""))
	}
	return strings.TrimRight(b.String(), "\n")
}

// wrap breaks s into lines of at most width characters, each starting with
// indent; a word longer than the line stands alone.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	line, n := indent, len(indent)
	for _, w := range strings.Fields(s) {
		wn := utf8.RuneCountInString(w)
		if n > len(indent) && n+1+wn > width {
			b.WriteString(line + "\n")
			line, n = indent, len(indent)
		}
		if n > len(indent) {
			line, n = line+" ", n+1
		}
		line, n = line+w, n+wn
	}
	if n > len(indent) {
		b.WriteString(line + "\n")
	}
	return b.String()
}
