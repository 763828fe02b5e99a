// Package output renders command results: tables for people (lipgloss on a
// terminal, plain aligned text when piped), JSON for scripts, and errors.
package output

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/codesync/codesync-cli/pkg/iostreams"
)

// Formats a command may accept for -o.
const (
	FormatTable  = "table"
	FormatJSON   = "json"
	FormatNDJSON = "ndjson"
	FormatCSV    = "csv"
)

// JSON writes v as JSON: indented on a terminal, compact when piped. Field
// order is the struct's, so it is stable.
// With --jq the document is filtered instead (see JQ).
func JSON(io *iostreams.IOStreams, v any) error {
	if expr := io.JQ(); expr != "" {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return JQ(context.Background(), io.Out, bytes.NewReader(b), expr)
	}
	enc := json.NewEncoder(io.Out)
	enc.SetEscapeHTML(false)
	if io.IsStdoutTTY() {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// Table is a list of rows with a header. Highlight marks rows to emphasise
// (e.g. keys expiring soon).
type Table struct {
	Header    []string
	Rows      [][]string
	highlight map[int]bool
	dim       map[int]bool
}

// AddRow appends a row.
func (t *Table) AddRow(cells ...string) { t.Rows = append(t.Rows, cells) }

// HighlightLast marks the last row added as needing attention.
func (t *Table) HighlightLast() {
	if t.highlight == nil {
		t.highlight = map[int]bool{}
	}
	t.highlight[len(t.Rows)-1] = true
}

// DimLast marks the last row as inactive (revoked, expired).
func (t *Table) DimLast() {
	if t.dim == nil {
		t.dim = map[int]bool{}
	}
	t.dim[len(t.Rows)-1] = true
}

// Adaptive colours read on light and dark terminals alike.
var (
	headerColor = lipgloss.AdaptiveColor{Light: "#005F87", Dark: "#5FAFFF"}
	warnColor   = lipgloss.AdaptiveColor{Light: "#AF5F00", Dark: "#FFAF00"}
	dimColor    = lipgloss.AdaptiveColor{Light: "#808080", Dark: "#6C6C6C"}
)

// Render writes the table: styled on a colour terminal, else plain text
// aligned with two spaces between columns (what `gh` prints when piped).
//
// On a terminal the table fits its width: the widest cells are cut with "…",
// as gh does (the first column, an ID or a time, is kept whole). Piped output
// is never cut.
func (t *Table) Render(ios *iostreams.IOStreams) error {
	if w := ios.Width(); w > 0 {
		t.fit(w)
	}
	if !ios.ColorEnabled() {
		tw := tabwriter.NewWriter(ios.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
		for _, r := range t.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
	r := lipgloss.NewRenderer(ios.Out)
	if r.ColorProfile() == termenv.Ascii {
		// colour was asked for (CODESYNC_FORCE_TTY) though the writer is no terminal
		r.SetColorProfile(termenv.ANSI)
	}
	head := r.NewStyle().Bold(true).Foreground(headerColor).PaddingRight(2)
	cell := r.NewStyle().PaddingRight(2)
	warn := cell.Foreground(warnColor).Bold(true)
	dim := cell.Foreground(dimColor)
	tbl := table.New().
		Border(lipgloss.HiddenBorder()).
		BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).
		BorderColumn(false).BorderHeader(false).
		Headers(t.Header...).
		Rows(t.Rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			switch {
			case row == table.HeaderRow:
				return head
			case t.highlight[row]:
				return warn
			case t.dim[row]:
				return dim
			}
			return cell
		})
	_, err := fmt.Fprintln(ios.Out, tbl.Render())
	return err
}

// colGap is the space between columns.
const colGap = 2

// minCol is the narrowest a cut column becomes.
const minCol = 6

// fit cuts the widest columns until every line is at most width wide.
func (t *Table) fit(width int) {
	n := len(t.Header)
	for _, r := range t.Rows {
		n = max(n, len(r))
	}
	if n == 0 {
		return
	}
	widths := make([]int, n)
	measure := func(cells []string) {
		for i, c := range cells {
			widths[i] = max(widths[i], ansi.StringWidth(c))
		}
	}
	measure(t.Header)
	for _, r := range t.Rows {
		measure(r)
	}
	total := func() int {
		s := 0
		for _, w := range widths {
			s += w + colGap
		}
		return s
	}
	cut := false
	for total() > width {
		widest := -1
		for i := 1; i < n; i++ {
			if widths[i] > minCol && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break // nothing left to cut: let the terminal wrap
		}
		widths[widest]--
		cut = true
	}
	if !cut {
		return
	}
	shorten := func(cells []string) {
		for i := range cells {
			cells[i] = ansi.Truncate(cells[i], widths[i], "…")
		}
	}
	shorten(t.Header)
	for _, r := range t.Rows {
		shorten(r)
	}
}
