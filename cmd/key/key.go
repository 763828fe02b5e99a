// Package key is `codesync-cli key …`: create, list, show, rotate, revoke and
// audit-export API keys.
package key

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/output"
)

func NewCmdKey(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key <command>",
		Short: "Create, list, rotate, revoke and audit-export API keys",
		Long: `API keys are scoped, expiring tokens for pipelines (csy_prod_… and csy_dev_…).
A token is shown once, when the key is created or rotated. A user holds at most
12 active keys.`,
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdList(f, nil),
		NewCmdShow(f, nil),
		NewCmdRotate(f, nil),
		NewCmdRevoke(f, nil),
		NewCmdAuditExport(f, nil),
	)
	return cmd
}

// expiresCell is the EXPIRES column: relative for people.
func expiresCell(now time.Time, k model.Key) string {
	if k.Status == model.StatusRevoked {
		return "-"
	}
	return output.RelativeTime(now, k.ExpiresAt)
}

func lastUsedCell(now time.Time, k model.Key) string {
	if k.LastUsedAt == nil {
		return "never"
	}
	return output.RelativeTime(now, *k.LastUsedAt)
}

func addKeyRow(t *output.Table, now time.Time, k model.Key) {
	status := k.Status
	if len(k.PolicyViolations) > 0 {
		status += " !policy" // breaks an organization's policy: `key show` names the rules
	}
	t.AddRow(k.ID, k.Name, k.Environment, strings.Join(k.Scopes, ","), expiresCell(now, k), lastUsedCell(now, k), status)
	if len(k.PolicyViolations) > 0 {
		t.HighlightLast()
	}
	switch k.Status {
	case model.StatusExpiring:
		t.HighlightLast()
	case model.StatusRevoked, model.StatusExpired:
		t.DimLast()
	}
}

var keyHeader = []string{"ID", "NAME", "ENV", "SCOPES", "EXPIRES", "LAST USED", "STATUS"}

// describeKey prints a key as "field  value" lines.
func describeKey(f *cmdutil.Factory, k model.Key) error {
	now := f.Now()
	t := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%s (%s)", p.UTC().Format(time.RFC3339), output.RelativeTime(now, *p))
	}
	s := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	list := func(l []string) string {
		if len(l) == 0 {
			return "-"
		}
		return strings.Join(l, ", ")
	}
	tbl := &output.Table{Header: []string{"FIELD", "VALUE"}}
	tbl.AddRow("id", k.ID)
	tbl.AddRow("name", k.Name)
	tbl.AddRow("prefix", k.Prefix+"…")
	tbl.AddRow("environment", k.Environment)
	tbl.AddRow("status", k.Status)
	if k.Status == model.StatusExpiring {
		tbl.HighlightLast()
	}
	tbl.AddRow("scopes", list(k.Scopes))
	tbl.AddRow("cidrs", list(k.CIDRs))
	tbl.AddRow("namespaces", list(k.Namespaces))
	tbl.AddRow("created_at", t(&k.CreatedAt))
	tbl.AddRow("expires_at", t(&k.ExpiresAt))
	tbl.AddRow("last_used_at", t(k.LastUsedAt))
	tbl.AddRow("last_used_ip", s(k.LastUsedIP))
	tbl.AddRow("revoked_at", t(k.RevokedAt))
	tbl.AddRow("rotated_from", s(k.RotatedFrom))
	tbl.AddRow("rotated_to", s(k.RotatedTo))
	if k.Owner != "" {
		tbl.AddRow("owner", k.Owner)
	}
	tbl.AddRow("policy_violations", list(k.PolicyViolations))
	if len(k.PolicyViolations) > 0 {
		tbl.HighlightLast()
	}
	return tbl.Render(f.IOStreams)
}

func completeKeyIDs(f *cmdutil.Factory, many bool) cobra.CompletionFunc {
	return cmdutil.CompleteKeyIDs(f, many)
}
