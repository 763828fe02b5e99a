package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// HTTPError is the server's JSON error: {"error": CODE, "error_description": TEXT}.
type HTTPError struct {
	Status      int
	Code        string
	Description string
	RetryAfter  time.Duration
	// Scopes are the scopes an insufficient_scope answer says are missing
	// (WWW-Authenticate's scope parameter, RFC 6750 §3).
	Scopes []string
}

func (e *HTTPError) Error() string {
	d := e.Description
	if d == "" {
		d = http.StatusText(e.Status)
	}
	return d
}

// ErrMalformed: a 2xx answer that is not the JSON expected (a proxy's or a
// single-page app's HTML, say).
var ErrMalformed = errors.New("malformed answer")

// TransportError means the server could not be reached, timed out, or kept
// answering 5xx: exit 9.
type TransportError struct {
	Err error
}

func (e *TransportError) Error() string { return e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// InsecureURLError refuses to send a credential over plain http to a host that
// is not loopback. It is raised before any connection is made.
type InsecureURLError struct {
	URL string
}

func (e *InsecureURLError) Error() string {
	return fmt.Sprintf("refusing to send credentials to %s over plain http: use https:// (plain http is allowed only for 127.0.0.0/8, ::1 and localhost)", e.URL)
}
