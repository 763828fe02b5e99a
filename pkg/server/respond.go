package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

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

// decodeBody reads a JSON body strictly: size-limited, known fields only, one
// value.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) *apiError {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, "request_too_large", "the body is larger than %d bytes", maxBody)
		}
		if errors.Is(err, io.EOF) {
			return badRequest("the body is empty: a JSON object is expected")
		}
		return badRequest("malformed JSON body: %s", err.Error())
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}
