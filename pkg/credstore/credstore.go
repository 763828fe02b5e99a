// Package credstore keeps secrets: the OS keyring through go-keyring, every call
// bounded by a timeout, or the plaintext credentials.json fallback (0600).
package credstore

import (
	"errors"
	"fmt"
)

// Service is the keyring service name.
const Service = "codesync-cli"

// ErrNotFound means nothing is stored for the account.
var ErrNotFound = errors.New("no stored credential")

// UnavailableError means the keyring cannot be used here.
type UnavailableError struct {
	Reason string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the system keyring is not usable: %s", e.Reason)
}

// Hint says how to get on without a keyring.
func (e *UnavailableError) Hint() string {
	return "pass --insecure-storage to 'codesync-cli login' or set CODESYNC_KEYRING=file to store the session in credentials.json (mode 0600), or set CODESYNC_AUTH_TOKEN"
}

// Store keeps one secret per account.
type Store interface {
	Get(account string) (string, error)
	Set(account, secret string) error
	Delete(account string) error
	// Kind is "keyring" or "file", as `auth status` reports the source.
	Kind() string
}
