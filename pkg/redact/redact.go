// Package redact removes secrets from text before it reaches a terminal or a
// log: API keys, OAuth tokens, JWTs, and the values of JSON fields and form
// parameters that carry secrets.
package redact

import (
	"regexp"
	"strings"
	"sync"
)

// Mask replaces every redacted secret.
const Mask = "[REDACTED]"

// The patterns compile on first use: most commands never redact anything,
// and compiling at package init would slow every start.
var patterns = sync.OnceValue(func() *redactors {
	return &redactors{
		token:     regexp.MustCompile(tokenPat),
		jsonField: regexp.MustCompile(jsonFieldPat),
		formField: regexp.MustCompile(formFieldPat),
		pem:       regexp.MustCompile(pemPat),
	}
})

type redactors struct{ token, jsonField, formField, pem *regexp.Regexp }

const (
	// csy_prod_/csy_dev_ keys, csa_/csr_ OAuth tokens, and JWTs (three base64url
	// parts, the first starting with the encoded '{"').
	tokenPat = `\bcs[a-z]_(?:prod_|dev_)?[0-9A-Za-z_-]{16,}|\beyJ[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]*`
	// "token": "…", "refresh_token": "…", "password": "…" and friends.
	jsonFieldPat = `("(?:[a-z_]*token|password|client_secret|code_verifier|code|device_code|private_key|csrf_token)"\s*:\s*)"(?:[^"\\]|\\.)*"`
	// form or query parameters: token=…&password=…
	formFieldPat = `\b((?:[a-z_]*token|password|client_secret|code_verifier|code|device_code|csrf_token)=)[^&\s]+`
	pemPat       = `(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`
)

// String redacts every secret found in s.
func String(s string) string {
	p := patterns()
	s = p.pem.ReplaceAllString(s, Mask)
	s = p.jsonField.ReplaceAllString(s, `$1"`+Mask+`"`)
	s = p.formField.ReplaceAllString(s, `${1}`+Mask)
	s = p.token.ReplaceAllStringFunc(s, func(t string) string {
		return Prefix(t) + "…" + Mask
	})
	return s
}

// Header redacts an HTTP header value by name.
func Header(name, value string) string {
	switch strings.ToLower(name) {
	case "authorization", "proxy-authorization":
		if i := strings.IndexByte(value, ' '); i > 0 {
			return value[:i+1] + Mask
		}
		return Mask
	case "cookie", "set-cookie":
		return Mask
	case "idempotency-key":
		// whoever holds it can have a stored rotation's new token back
		return Mask
	}
	return String(value)
}

// Prefix is the part of a token that may be shown: its first 12 characters for
// API keys (what `key list` calls the prefix), the kind only for others.
func Prefix(t string) string {
	switch {
	case strings.HasPrefix(t, "csy_") && len(t) > 12:
		return t[:12]
	case strings.HasPrefix(t, "eyJ"):
		return "eyJ"
	case len(t) > 4 && t[3] == '_':
		return t[:4]
	}
	return ""
}

// Looks reports whether s, as a whole, is shaped like a secret: an API key
// or OAuth token (csy_, csa_, csr_ …, well-formed or not) or a JWT. Such a
// string never belongs where an identifier is expected.
func Looks(s string) bool {
	if len(s) > 4 && s[0] == 'c' && s[1] == 's' && s[2] >= 'a' && s[2] <= 'z' && s[3] == '_' {
		return true
	}
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") >= 2
}

// Path redacts the segments of a URL path that look like secrets (Looks),
// as a token pasted where a key ID belongs: /v1/keys/csy_prod_… is logged as
// /v1/keys/csy_prod_AbC…[REDACTED].
func Path(p string) string {
	if !strings.Contains(p, "cs") && !strings.Contains(p, "eyJ") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if Looks(seg) {
			segs[i] = Prefix(seg) + "…" + Mask
		} else if r := String(seg); r != seg {
			segs[i] = r
		}
	}
	return strings.Join(segs, "/")
}
