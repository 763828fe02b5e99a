package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codesync/codesync-cli/pkg/model"
)

// apiError is an answer of SPEC §4's error table.
type apiError struct {
	status     int
	code       string
	desc       string
	retryAfter time.Duration
	scope      string // for insufficient_scope's WWW-Authenticate
}

func (e *apiError) Error() string { return e.code + ": " + e.desc }

func errf(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, desc: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) *apiError {
	return errf(http.StatusBadRequest, "invalid_request", format, a...)
}

func invalidToken(desc string) *apiError {
	return errf(http.StatusUnauthorized, "invalid_token", "%s", desc)
}

func notFound(what string) *apiError {
	return errf(http.StatusNotFound, "not_found", "no such %s", what)
}

// writeError writes e as JSON with the headers the contract asks for.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	switch {
	case e.status == http.StatusUnauthorized:
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="codesync", error=%q, error_description=%q`, e.code, e.desc))
	case e.code == "insufficient_scope":
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="codesync", error="insufficient_scope", scope=%q`, e.scope))
	}
	if e.status == http.StatusTooManyRequests {
		secs := int(e.retryAfter.Seconds() + 0.999)
		if secs < 1 {
			secs = 1
		}
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(model.Error{Error: e.code, Description: e.desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// maxBody bounds JSON request bodies.
const maxBody = 64 << 10

// decodeBody reads a JSON body strictly: size-limited, valid UTF-8, one JSON
// object whose field names are exactly the known ones (encoding/json alone
// matches names case-insensitively and lets a repeated field win), each at
// most once, numbers in range of their fields.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) *apiError {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, "request_too_large", "the body is larger than %d bytes", maxBody)
		}
		return badRequest("the body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("the body is empty: a JSON object is expected")
	}
	if !utf8.Valid(body) {
		return badRequest("the body is not valid UTF-8")
	}
	if e := checkFieldNames(body, v); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed JSON body: %s", err.Error())
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	if !validStrings(reflect.ValueOf(v)) {
		return badRequest("the body holds a string that is not valid UTF-8 (an unpaired surrogate escape?)")
	}
	return nil
}

// jsonFields are the exact JSON names of struct type t's fields.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = true
	}
	return out
}

// checkFieldNames walks the top-level object: every name must be a field of
// v's struct, spelled exactly, and appear once.
func checkFieldNames(body []byte, v any) *apiError {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	known := jsonFields(t)
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return badRequest("malformed JSON body: a JSON object is expected")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badRequest("malformed JSON body: %s", err.Error())
		}
		name, _ := tok.(string)
		if !known[name] {
			return badRequest("unknown field %q (field names are case-sensitive)", name)
		}
		if seen[name] {
			return badRequest("the field %q appears more than once", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return badRequest("malformed JSON body: %s", err.Error())
		}
	}
	return nil
}

// validStrings reports whether every string in v is valid UTF-8 without
// U+FFFD, which is what encoding/json makes of invalid bytes and unpaired
// surrogate escapes.
func validStrings(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || validStrings(v.Elem())
	case reflect.String:
		s := v.String()
		return utf8.ValidString(s) && !strings.ContainsRune(s, utf8.RuneError)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if !validStrings(v.Index(i)) {
				return false
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !validStrings(v.Field(i)) {
				return false
			}
		}
	}
	return true
}
