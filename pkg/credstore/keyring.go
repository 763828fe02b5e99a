package credstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

// Keyring is the OS keyring (Secret Service, macOS Keychain, Windows
// Credential Manager).
type Keyring struct {
	Timeout time.Duration
	Getenv  func(string) string
	goos    string // runtime.GOOS when empty; tests set it
}

// WindowsSecretLimit is the most the Windows Credential Manager stores in one
// credential (go-keyring refuses more). A session larger than that is refused
// with a clear message before the call, so the user learns the remedy.
const WindowsSecretLimit = 2560

func (k *Keyring) Kind() string { return "keyring" }

// available refuses early where no keyring can work: on Linux without a D-Bus
// session bus godbus would spawn dbus-launch and leave daemons behind.
func (k *Keyring) available() error {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" && runtime.GOOS != "openbsd" {
		return nil
	}
	if k.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	if rd := k.Getenv("XDG_RUNTIME_DIR"); rd != "" {
		if _, err := os.Stat(filepath.Join(rd, "bus")); err == nil {
			return nil
		}
	}
	return &UnavailableError{Reason: "no D-Bus session bus (headless session, SSH or container)"}
}

// call runs fn with the timeout. godbus has no call timeout, so a keyring that
// never answers would block forever; the stuck goroutine is left behind, which
// is fine for a short-lived CLI.
func (k *Keyring) call(fn func() error) error {
	if err := k.available(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(k.Timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return mapKeyringErr(err)
	case <-t.C:
		return &UnavailableError{Reason: "it did not answer within " + k.Timeout.String() + " (locked, or waiting for a prompt nobody can answer; CODESYNC_KEYRING_TIMEOUT sets the bound)"}
	}
}

func mapKeyringErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return err
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return &UnavailableError{Reason: msg}
}

func (k *Keyring) Get(account string) (string, error) {
	var secret string
	err := k.call(func() error {
		s, err := keyring.Get(Service, account)
		secret = s
		return err
	})
	return secret, err
}

func (k *Keyring) Set(account, secret string) error {
	goos := k.goos
	if goos == "" {
		goos = runtime.GOOS
	}
	if goos == "windows" && len(secret) > WindowsSecretLimit {
		return &UnavailableError{Reason: fmt.Sprintf("the session is %d bytes, more than the %d bytes the Windows Credential Manager stores", len(secret), WindowsSecretLimit)}
	}
	return k.call(func() error { return keyring.Set(Service, account, secret) })
}

func (k *Keyring) Delete(account string) error {
	return k.call(func() error { return keyring.Delete(Service, account) })
}
