package scan

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/codesync/codesync-cli/pkg/token"
)

var referenceRE = regexp.MustCompile(`^csy_(?:prod|dev)_[0-9A-Za-z]{36}`)

// reference finds tokens the slow, obvious way: at every "csy_", a regular
// expression, then the rules (no base62 character after it, checksum).
func reference(data []byte) []string {
	var out []string
	for i := 0; i < len(data); i++ {
		m := referenceRE.FindIndex(data[i:])
		if m == nil {
			continue
		}
		end := i + m[1]
		if end < len(data) && isBase62(data[end]) {
			continue
		}
		if _, err := token.Parse(string(data[i:end])); err != nil {
			continue
		}
		line := bytes.Count(data[:i], []byte{'\n'}) + 1
		col := 1
		for _, c := range data[bytes.LastIndexByte(data[:i], '\n')+1 : i] {
			if utf8.RuneStart(c) {
				col++
			}
		}
		out = append(out, fmt.Sprintf("%d:%d:%s", line, col, data[i:i+12]))
	}
	return out
}

// FuzzStreamMatchesReference: read in small chunks, so tokens straddle
// chunk boundaries, the scanner finds exactly what the reference finds.
func FuzzStreamMatchesReference(f *testing.F) {
	tok, dev := token.New("prod"), token.New("dev")
	f.Add([]byte("a\n"+tok+"\nb"), uint8(7))
	f.Add([]byte(tok+tok+" "+dev+"x "+dev), uint8(1))
	f.Add([]byte("ÄÖ\n\n  csy_prod_csy_dev_"+dev+"\n"+tok[:44]+"\n"+tok), uint8(50))
	f.Add([]byte("csy_csy_"+tok+"_"+dev), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		if sniff(data) != "" {
			return // archives are another path
		}
		s := newScanner(Options{}, int(chunk)%64+1)
		if err := s.ScanReader(context.Background(), "x", bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, fd := range s.Findings() {
			got = append(got, fmt.Sprintf("%d:%d:%s", fd.Line, fd.Column, fd.Prefix))
		}
		if want := reference(data); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("chunk %d:\n got %v\nwant %v", int(chunk)%64+1, got, want)
		}
	})
}
