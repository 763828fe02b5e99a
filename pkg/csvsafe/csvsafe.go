// Package csvsafe keeps CSV cells from being run as spreadsheet formulas
// (OWASP "CSV injection"): a cell that starts with =, +, -, @, a tab or a
// carriage return is written with a leading single quote, which spreadsheets
// show as text. The server's exports and the CLI's CSV output both use it.
package csvsafe

import (
	"encoding/csv"
	"errors"
	"io"
)

// Cell returns s safe to write as a CSV cell.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// Row escapes every cell of row in place and returns it.
func Row(row []string) []string {
	for i, c := range row {
		row[i] = Cell(c)
	}
	return row
}

// Copy reads CSV from src and writes it to dst with every cell escaped,
// record by record, so memory stays flat however long the input is. Cells
// escaped already (a leading quote) are left as they are.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	r := csv.NewReader(src)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	cw := &countingWriter{w: dst}
	w := csv.NewWriter(cw)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cw.n, err
		}
		if err := w.Write(Row(rec)); err != nil {
			return cw.n, err
		}
	}
	w.Flush()
	return cw.n, w.Error()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
