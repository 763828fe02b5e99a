// Package scan finds CodeSync API keys in files, directories, archives,
// container images, git history and streams, offline. A match counts only when
// its CRC-32 checksum is valid (pkg/token), so random look-alikes are not
// reported. A Finding never holds the token: only its displayable prefix and
// its SHA-256, which is what the server stores and what `scan --check` sends.
package scan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/token"
)

// Finding is one token found. Line and Column are 1-based; Column counts
// Unicode code points from the start of the line (SARIF "unicodeCodePoints").
type Finding struct {
	Path        string `json:"path"`
	Commit      string `json:"commit,omitempty"`
	Line        int    `json:"line"`
	Column      int    `json:"column"`
	EndColumn   int    `json:"end_column"`
	Prefix      string `json:"prefix"`
	Environment string `json:"environment"`
	SHA256      string `json:"sha256"`
}

// maxTokenLen is the longest token (csy_prod_ + 36); one more byte decides
// whether the token ends there.
const maxTokenLen = len(token.PrefixProd) + 36

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// matchAt checks data[i:] (which starts with "csy_") for a whole,
// checksum-valid token. It returns the token's length, or 0. complete says
// data ends where the input ends, so a token flush with the end counts.
func matchAt(data []byte, i int) (n int, env string) {
	rest := data[i:]
	switch {
	case bytes.HasPrefix(rest, []byte(token.PrefixProd)):
		n = len(token.PrefixProd) + 36
	case bytes.HasPrefix(rest, []byte(token.PrefixDev)):
		n = len(token.PrefixDev) + 36
	default:
		return 0, ""
	}
	if len(rest) < n {
		return 0, ""
	}
	// a longer run of base62 characters is another string, not a token
	if len(rest) > n && isBase62(rest[n]) {
		return 0, ""
	}
	env, ok := token.Valid(rest[:n])
	if !ok {
		return 0, ""
	}
	return n, env
}

func newFinding(tok []byte, env string) Finding {
	sum := sha256.Sum256(tok)
	e := model.EnvProduction
	if env == "dev" {
		e = model.EnvSandbox
	}
	return Finding{Prefix: token.Prefix(string(tok)), Environment: e, SHA256: hex.EncodeToString(sum[:])}
}

// position tracks line and column across the chunks of one stream.
type position struct {
	line int // 1-based line of the next unread byte
	col  int // code points since the last newline
}

// advance moves the position over seg.
func (p *position) advance(seg []byte) {
	nl := bytes.LastIndexByte(seg, '\n')
	if nl < 0 {
		p.col += chars(seg)
		return
	}
	p.line += bytes.Count(seg, []byte{'\n'})
	p.col = chars(seg[nl+1:])
}

// chars counts the bytes that start a character (all but UTF-8
// continuation bytes): code points in valid UTF-8, and the same count
// however the text is cut into chunks, even inside a character.
func chars(b []byte) int {
	n := len(b)
	for _, c := range b {
		if c&0xC0 == 0x80 {
			n--
		}
	}
	return n
}

// scanChunk reports the tokens of data that start before limit, advancing
// pos to limit. data[limit:] is the caller's to carry into the next chunk.
func scanChunk(data []byte, limit int, pos *position, emit func(Finding)) {
	done := 0
	// search for the rarest byte of "csy_" with IndexByte (SIMD memchr),
	// then look around it: faster than bytes.Index on text full of 'c'
	for from := 3; from < min(limit+3, len(data)); {
		j := bytes.IndexByte(data[from:], '_')
		if j < 0 {
			break
		}
		i := from + j - 3
		if i >= limit {
			break
		}
		if data[i] != 'c' || data[i+1] != 's' || data[i+2] != 'y' {
			from = i + 4
			continue
		}
		n, env := matchAt(data, i)
		if n == 0 {
			from = i + 4
			continue
		}
		pos.advance(data[done:i])
		done = i
		f := newFinding(data[i:i+n], env)
		f.Line, f.Column, f.EndColumn = pos.line, pos.col+1, pos.col+1+n
		emit(f)
		from = i + n + 3
	}
	pos.advance(data[done:limit])
}

// maskTokens shortens every token in s (a file or member name, say) to its
// displayable prefix: a path is printed, and a key must never be.
func maskTokens(s string) string {
	if !strings.Contains(s, "csy_") {
		return s
	}
	b := []byte(s)
	var out strings.Builder
	last := 0
	for i := 0; i+4 <= len(b); i++ {
		if string(b[i:i+4]) != "csy_" {
			continue
		}
		if n, _ := matchAt(b, i); n > 0 {
			out.Write(b[last:i])
			out.WriteString(token.Prefix(string(b[i:i+n])) + "…")
			last = i + n
			i += n - 1
		}
	}
	out.Write(b[last:])
	return out.String()
}
